// The model page: charts from the JSON API (uPlot, served locally) and live updates by SSE.
(function () {
  const data = document.getElementById("model-data");
  if (!data) return;
  const M = { id: Number(data.dataset.id), mode: data.dataset.mode, instrument: data.dataset.instrument ? Number(data.dataset.instrument) : null };
  const nmr = (units) => (units / 1e8).toFixed(4).replace(/0{1,2}$/, "");
  const width = (el) => Math.max(260, el.clientWidth - 4);

  function depthChart(el, book) {
    const bids = book.bids.map((l) => [l.price.units, l.quantity]);
    const asks = book.asks.map((l) => [l.price.units, l.quantity]);
    const xs = [], bidCum = [], askCum = [];
    let acc = 0;
    const bidPts = bids.map(([p, q]) => { acc += q; return [p, acc]; }).reverse();
    acc = 0;
    const askPts = asks.map(([p, q]) => { acc += q; return [p, acc]; });
    bidPts.forEach(([p, q]) => { xs.push(p / 1e8); bidCum.push(q); askCum.push(null); });
    askPts.forEach(([p, q]) => { xs.push(p / 1e8); bidCum.push(null); askCum.push(q); });
    el.innerHTML = "";
    if (!xs.length) { el.textContent = "The book is empty."; return; }
    new uPlot({
      width: width(el), height: 200, legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: "price (NMR)" }, { label: "cumulative qty" }],
      series: [{}, { label: "bids", stroke: "#0a6b3d", fill: "rgba(10,107,61,.15)", paths: uPlot.paths.stepped({ align: 1 }) },
               { label: "asks", stroke: "#b00020", fill: "rgba(176,0,32,.12)", paths: uPlot.paths.stepped({ align: -1 }) }],
    }, [xs, bidCum, askCum], el);
  }

  function lineChart(el, label, xs, ys, yLabel) {
    el.innerHTML = "";
    if (!xs.length) { el.textContent = "No history yet."; return; }
    new uPlot({
      width: width(el), height: 200, legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: "round" }, { label: yLabel }],
      series: [{}, { label: label, stroke: "#0b3d2e", width: 2, points: { show: true } }],
    }, [xs, ys], el);
  }

  function renderBook(book) {
    depthChart(document.getElementById("depth-chart"), book);
    const ask = book.asks[0], bid = book.bids[0];
    document.getElementById("best-ask").textContent = ask ? nmr(ask.price.units) + " NMR" : "—";
    document.getElementById("best-bid").textContent = bid ? nmr(bid.price.units) + " NMR" : "—";
    const rows = (levels) => levels.slice(0, 10).map((l) => `<tr><td class="num">${nmr(l.price.units)}</td><td class="num">${l.quantity}</td></tr>`).join("");
    document.getElementById("bids").innerHTML = rows(book.bids) || '<tr><td colspan="2" class="muted">no bids</td></tr>';
    document.getElementById("asks").innerHTML = rows(book.asks) || '<tr><td colspan="2" class="muted">no asks</td></tr>';
  }

  if (M.instrument) {
    fetch(`/api/v1/instruments/${M.instrument}/book?depth=50`).then((r) => r.json()).then(renderBook);
    const source = new EventSource(`/api/v1/instruments/${M.instrument}/stream`);
    source.addEventListener("book", (e) => renderBook(JSON.parse(e.data)));
    source.addEventListener("trade", (e) => {
      const t = JSON.parse(e.data);
      document.getElementById("last-sale").textContent = nmr(t.price.units) + " NMR";
      const tape = document.getElementById("tape");
      const when = new Date(t.created_at).toUTCString().slice(5, 22);
      tape.insertAdjacentHTML("afterbegin", `<tr class="fresh"><td>${when}</td><td class="num">${nmr(t.price.units)}</td><td class="num">${t.quantity}</td></tr>`);
    });
  }
  fetch(`/api/v1/models/${M.id}/price-history?mode=${M.mode}`).then((r) => r.json()).then((bars) => {
    lineChart(document.getElementById("price-chart"), "close", bars.map((b) => b.round_number), bars.map((b) => b.close.units / 1e8), "NMR");
  });
  fetch(`/api/v1/models/${M.id}/performance`).then((r) => (r.ok ? r.json() : null)).then((perf) => {
    const el = document.getElementById("perf-chart");
    const rounds = perf && (perf.rounds || []);
    if (!rounds || !rounds.length) { el.textContent = "No live scores synced yet."; return; }
    lineChart(el, "corr", rounds.map((r) => r.round_number), rounds.map((r) => r.corr), "live score");
  }).catch(() => { document.getElementById("perf-chart").textContent = "No live scores synced yet."; });
})();
