// ferry dashboard: progressive enhancement only (every page works without it).
// Live logs: a <pre id="log" data-tail=… data-cursor=…> is kept current by polling its tail
// URL every 2 s; new lines are appended as text (never as HTML).
"use strict";
(function () {
  const log = document.getElementById("log");
  if (!log || !log.dataset.tail) return;
  const state = document.getElementById("log-state");
  let cursor = log.dataset.cursor || "";
  let failures = 0;
  if (state) state.textContent = "Live: new lines appear as they are written.";
  async function poll() {
    try {
      const url = log.dataset.tail + "&after=" + encodeURIComponent(cursor);
      const r = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const doc = await r.json();
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      if (Array.isArray(doc.lines) && doc.lines.length) {
        log.append(document.createTextNode(doc.lines.join("\n") + "\n"));
        if (atBottom) log.scrollTop = log.scrollHeight;
      }
      if (typeof doc.cursor === "string") cursor = doc.cursor;
      failures = 0;
    } catch (e) {
      failures += 1;
      if (state) state.textContent = "Live updates paused (" + e.message + "); retrying.";
    }
    setTimeout(poll, Math.min(2000 * (failures + 1), 30000));
  }
  setTimeout(poll, 2000);
})();
