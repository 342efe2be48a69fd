// The supervisor pages work without this file; it adds conveniences and draws the overview's
// charts (with the vendored Apache ECharts) from the JSON block the page carries.
"use strict";

function bars(el, data, options) {
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", top: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: 40, containLabel: true },
    xAxis: options.horizontal ? { type: "value" } : { type: "category", data: data.categories },
    yAxis: options.horizontal ? { type: "category", data: data.categories, inverse: true } : { type: "value" },
    series: data.series.map((s, i) => ({
      name: s.name,
      type: "bar",
      stack: options.stack ? "all" : undefined,
      yAxisIndex: 0,
      data: s.values,
      label: options.labels ? { show: true, position: options.horizontal ? "right" : "top" } : undefined,
    })),
  });
  window.addEventListener("resize", () => chart.resize());
  return chart;
}

function route(el, stops) {
  const chart = echarts.init(el);
  const points = stops.map((s) => [s.lng, s.lat, s.time + " " + s.customer, s.flagged]);
  chart.setOption({
    tooltip: { formatter: (p) => p.data[2] },
    xAxis: { type: "value", scale: true, name: "lng" },
    yAxis: { type: "value", scale: true, name: "lat" },
    series: [
      { type: "line", data: points, symbolSize: 10, label: { show: true, formatter: (p) => String(p.dataIndex + 1) },
        itemStyle: { color: "#1d4ed8" } },
      { type: "scatter", data: points.filter((p) => p[3]), symbolSize: 16, itemStyle: { color: "#b44d12" } },
    ],
  });
  window.addEventListener("resize", () => chart.resize());
}

document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll("input.pick")) box.checked = all.checked;
    });
  }
  const block = document.getElementById("overview-data");
  if (block && window.echarts) {
    const data = JSON.parse(block.textContent);
    const drawn = [];
    const at = (id) => document.getElementById(id);
    if (at("chart-daily")) drawn.push(bars(at("chart-daily"), data.daily, { stack: true }));
    if (at("chart-weekly")) drawn.push(bars(at("chart-weekly"), data.weekly, { stack: true }));
    if (at("chart-coverage")) drawn.push(bars(at("chart-coverage"), data.coverage, { stack: true, horizontal: true }));
    if (at("chart-funnel")) drawn.push(bars(at("chart-funnel"), data.funnel, { labels: true, horizontal: true }));
    if (at("chart-overdue")) drawn.push(bars(at("chart-overdue"), data.overdue, { labels: true }));
    if (at("chart-route") && data.route.length) route(at("chart-route"), data.route);
    document.body.dataset.charts = String(drawn.length + (data.route.length ? 1 : 0));
  }
});
