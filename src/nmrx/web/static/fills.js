// Live fill states on the portfolio, the sales page and a fill's page: the session's
// server-sent events (/fills/stream) update the state cells and the timeline in place
// and announce each change in the page's live region. No reload, no framework.
(function () {
  const live = document.getElementById("fill-live");
  if (!live || !window.EventSource) return;
  const role = live.dataset.role || "";  // "buyer" on the portfolio, "seller" on sales, "" on a fill
  const onlyFill = live.dataset.fill || "";
  const label = (state) => state.replace(/_/g, " ");

  function badge(el, state) {
    el.className = "state state-" + state;
    el.textContent = label(state);
  }

  function when(iso) {
    const d = new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  // The live region stays in the page (empty until a change): a region that appears
  // together with its text is not reliably announced by screen readers.
  function announce(change, shown) {
    const note = document.createElement("p");
    note.className = "flash";
    note.textContent = `Fill #${change.fill_id} is now ${label(change.state)}: ${change.detail} `;
    if (!shown) {
      const link = document.createElement("a");
      link.href = "/fills/" + change.fill_id;
      link.textContent = "see the fill";
      note.appendChild(link);
    }
    live.replaceChildren(note);
  }

  const source = new EventSource(live.dataset.stream);
  source.addEventListener("fill", (e) => {
    const change = JSON.parse(e.data);
    if (onlyFill && String(change.fill_id) !== onlyFill) return;
    if (role && change.role !== role) return;
    const state = document.getElementById(`fill-${change.fill_id}-state`);
    if (state) badge(state, change.state);
    const why = document.getElementById(`fill-${change.fill_id}-why`);
    if (why) why.textContent = change.detail;
    const row = document.getElementById(`fill-${change.fill_id}`);
    if (row) row.classList.add("fresh");
    const steps = document.getElementById(`fill-${change.fill_id}-timeline`);
    if (steps) {
      const item = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = label(change.state);
      const at = document.createElement("small");
      at.className = "muted";
      at.textContent = when(change.at);
      item.append(name, " ", at, document.createElement("br"), change.detail);
      item.className = "fresh";
      steps.appendChild(item);
    }
    announce(change, Boolean(state));
  });
})();
