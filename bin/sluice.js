#!/usr/bin/env node
// Node runs the TypeScript sources directly through tsx; Deno runs cli/main.ts natively.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
