// The error classes belong to the message contract (subjects/errors.ts), so the pure layers that
// judge messages (quality/, validate's cores) can throw them without importing the runtime.
export { PoisonError, RetryableError, isPoison, isRetryable, describeError } from "../../subjects/errors.ts";
