// The dashboard: numbers from /dashboard/api/summary, alerts from /dashboard/events (SSE).
"use strict";
const money = (cents) => (cents / 100).toLocaleString("en-US", {style: "currency", currency: "USD"});
let chart = null;

function rows(tbody, items, cells) {
  tbody.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    for (const [value, cls] of cells(item)) {
      const td = document.createElement("td");
      if (cls) td.className = cls;
      if (value instanceof Node) td.append(value); else td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
}

function bar(fraction) {
  const span = document.createElement("span");
  span.style.width = Math.round(120 * fraction) + "px";
  return span;
}

async function refresh() {
  const response = await fetch("/dashboard/api/summary");
  if (!response.ok) { document.getElementById("updated").textContent = "warehouse unavailable"; return; }
  const s = await response.json();
  document.getElementById("total-revenue").textContent = money(s.totals.revenue_cents);
  document.getElementById("total-revenue").dataset.cents = s.totals.revenue_cents;
  document.getElementById("total-orders").textContent = s.totals.orders.toLocaleString("en-US");
  document.getElementById("total-events").textContent = s.totals.events.toLocaleString("en-US");
  const top = s.top_products.length ? s.top_products[0].revenue_cents : 1;
  rows(document.querySelector("#top-products tbody"), s.top_products, (p) => [
    [String(p.product_id)], [money(p.revenue_cents)], [String(p.units)], [bar(p.revenue_cents / top), "bar"]]);
  const first = s.funnel.length ? s.funnel[0].sessions || 1 : 1;
  rows(document.querySelector("#funnel tbody"), s.funnel, (f) => [
    [f.stage], [String(f.sessions)], [bar(f.sessions / first), "bar"]]);
  rows(document.querySelector("#stock tbody"), s.stock, (p) => [[String(p.product_id)], [String(p.stock)]]);
  const data = [s.revenue.hour, s.revenue.cents.map((c) => c / 100)];
  const el = document.getElementById("revenue-chart");
  el.dataset.points = String(s.revenue.hour.length);
  if (!chart) {
    chart = new uPlot({width: Math.min(window.innerWidth - 60, 1100), height: 260,
      series: [{}, {label: "revenue ($)", stroke: "#2a6", fill: "rgba(42,170,102,0.1)"}]}, data, el);
  } else {
    chart.setData(data);
  }
  document.getElementById("updated").textContent =
    "updated " + new Date().toLocaleTimeString() + " (" + s.query_ms + " ms)";
}

function listen() {
  const source = new EventSource("/dashboard/events");
  source.addEventListener("alert", (e) => {
    const alert = JSON.parse(e.data);
    const div = document.createElement("div");
    div.className = alert.kind;
    div.textContent = (alert.kind === "low_stock" ? "Low stock: " : "Order spike: ") + alert.message;
    document.getElementById("notifications").prepend(div);
  });
}

listen();
refresh();
setInterval(refresh, 3000);
