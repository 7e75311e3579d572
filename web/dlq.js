import { api, fill, fmt, h, section, table } from "./dom.js";

/** Dead letters: list, filter by reason, show one, replay it to its original subject. */
export function dlqPage(main) {
  const state = { reason: "", id: undefined };
  const reason = h("input", { placeholder: "reason or error code", "data-testid": "reason-filter", oninput: (e) => { state.reason = e.target.value.trim(); } });
  const list = h("div");
  const detail = h("div", { "data-testid": "dead-letter-detail" }, h("p", { class: "empty" }, "pick a dead letter"));
  main.append(h("div", { class: "controls" }, "filter ", reason), h("div", { class: "grid" }, section("Dead letters (newest first)", list), section("Dead letter", detail)));

  // A viewer token may read dead letters but not replay them (api/auth.ts): say so, and how to get one that may.
  function replayFailed(err) {
    if (err.status !== 403) return h("p", { class: "sev-high", "data-testid": "replay-error" }, `Not replayed: ${err.message}`);
    return h("div", { class: "sev-high", "data-testid": "replay-refused" },
      h("p", {}, "Not replayed: replaying a dead letter needs the operator role, and this browser's token does not have it."),
      h("p", {}, err.hint ?? err.message));
  }
  async function replay(id) {
    const r = await api(`/v1/dlq/${id}/replay`, { method: "POST" });
    detail.append(h("p", { "data-testid": "replay-result" }, `replayed to ${r.subject} as ${r.event_id}${r.duplicate ? " (the stream already had it)" : ""}`));
  }
  async function show(id) {
    state.id = id;
    const d = await api(`/v1/dlq/${id}`);
    fill(detail,
      h("p", {}, h("strong", {}, `#${d.id} `), `${d.actor} · ${d.code} · ${d.original_stream} seq ${d.original_seq} · ${d.deliveries} deliveries · replayed ${d.replay_count}×`),
      h("p", {}, d.reason),
      h("pre", { "data-testid": "payload" }, d.payload ?? `(${d.payload_bytes} bytes, not UTF-8)`),
      h("pre", {}, Object.entries(d.headers).map(([k, v]) => `${k}: ${v}`).join("\n")),
      h("button", { "data-testid": "replay", onclick: () => replay(d.id).catch((err) => detail.append(replayFailed(err))) }, "Replay"),
    );
  }
  return {
    async refresh() {
      const q = state.reason ? `&reason=${encodeURIComponent(state.reason)}` : "";
      const { dead_letters } = await api(`/v1/dlq?limit=200${q}`);
      fill(list, table("dlq", [
        ["id", (d) => d.id, true], ["failed", (d) => fmt.time(d.failed_at)], ["actor", (d) => d.actor], ["reason", (d) => d.code],
        ["subject", (d) => d.original_subject], ["replays", (d) => d.replay_count, true],
      ], dead_letters, { rowId: (d) => d.id, selected: (d) => d.id === state.id, onPick: (d) => show(d.id), empty: "no dead letters" }));
    },
  };
}
