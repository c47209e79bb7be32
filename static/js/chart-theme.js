// One Chart.js theme for every chart: the design system's colours and font,
// and number formats in the page's language (<html lang>) and the company's
// currency (<html data-currency>). Load after chart.umd.min.js, before a page's
// own chart script, which reads window.BoussoleCharts for its formatters.
(function () {
  "use strict";
  var root = document.documentElement;
  var lang = root.lang || "en";
  var currency = root.getAttribute("data-currency") || "EUR";
  var css = getComputedStyle(root);
  function token(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  var palette = {
    accent: token("--color-accent", "#1f5fbf"),
    ink: token("--color-ink", "#1d2433"),
    muted: token("--color-muted", "#4f586a"),
    line: token("--color-line", "#d9dee7"),
    good: token("--color-good", "#116329"),
    bad: token("--color-bad", "#a11a12"),
    warn: token("--color-warn", "#7a5200"),
    highlight: "#ffbf47",
    soft: "#b8c4d9",
  };
  function nf(options) { return new Intl.NumberFormat(lang, options); }
  var formats = {
    // Axes: compact ("€160K", "160 k€"); tooltips: whole amounts with the symbol.
    moneyCompact: nf({ style: "currency", currency: currency, notation: "compact", maximumFractionDigits: 1 }),
    money: nf({ style: "currency", currency: currency, maximumFractionDigits: 0 }),
    compact: nf({ notation: "compact", maximumFractionDigits: 1 }),
    number: nf({ maximumFractionDigits: 1 }),
    percent: nf({ maximumFractionDigits: 1 }),
  };
  function formatter(unit, compact) {
    if (unit === "money" || unit === "money_per_day") {
      var f = compact ? formats.moneyCompact : formats.money;
      return function (v) { return f.format(v); };
    }
    if (unit === "percent") return function (v) { return formats.percent.format(v) + (lang === "fr" ? "\u202f%" : "%"); };
    var g = compact ? formats.compact : formats.number;
    return function (v) { return g.format(v); };
  }
  window.BoussoleCharts = { palette: palette, formatter: formatter, currency: currency, lang: lang };
  if (typeof Chart === "undefined") return;
  Chart.defaults.font.family = token("--font-sans", "system-ui, sans-serif");
  Chart.defaults.font.size = 13;
  Chart.defaults.color = palette.muted;
  Chart.defaults.borderColor = palette.line;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.locale = lang;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  Chart.defaults.plugins.tooltip.backgroundColor = token("--color-header", "#14213d");
  Chart.defaults.plugins.tooltip.padding = 8;
  Chart.defaults.elements.bar.borderRadius = 4;
  Chart.defaults.elements.line.borderWidth = 2;
})();
