// The price page: pick a route and a departure, see the price history, the outlook and
// the recommendation. Plain browser JavaScript, no build step; uPlot draws the chart.
(function () {
  'use strict';

  const DAY_MS = 86_400_000;
  const $ = (id) => document.getElementById(id);
  const els = {
    route: $('route'),
    departure: $('departure'),
    status: $('status'),
    keyForm: $('key-form'),
    key: $('key'),
    forecast: $('forecast'),
    title: $('title'),
    recommendation: $('recommendation'),
    current: $('current'),
    lowest: $('lowest'),
    typical: $('typical'),
    chart: $('chart'),
    meta: $('meta'),
  };

  let routes = [];
  let plot;
  let shown; // the forecast on screen, to redraw the chart on resize

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.error && body.error.code;
    }
  }

  async function api(path) {
    const key = sessionStorage.getItem('faresight-key');
    const res = await fetch(path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    const body = await res.json().catch(() => undefined);
    if (!res.ok) throw new HttpError(res.status, body);
    return body;
  }

  function setStatus(text, isError) {
    els.status.textContent = text || '';
    els.status.classList.toggle('error', Boolean(isError));
  }

  function showError(error) {
    if (error instanceof HttpError && error.status === 401) {
      els.keyForm.hidden = false;
      setStatus('An API key is required to read forecasts.', true);
      return;
    }
    setStatus(error.message || String(error), true);
  }

  // ---- formatting ----------------------------------------------------------------

  const formatters = new Map();
  function money(amount, currency, digits) {
    const id = `${currency}:${digits}`;
    if (!formatters.has(id)) {
      const options = { style: 'currency', currency };
      if (digits !== undefined) Object.assign(options, { minimumFractionDigits: digits, maximumFractionDigits: digits });
      formatters.set(id, new Intl.NumberFormat(undefined, options));
    }
    return formatters.get(id).format(amount);
  }

  /** A rounded amount for prose: "about €10", with cents only for small amounts. */
  function roughly(amount, currency) {
    return money(amount, currency, Math.abs(amount) >= 10 ? 0 : 2);
  }

  const daysText = (n) => (n === 1 ? '1 day' : `${n} days`);
  const percent = (p) => `${Math.round(p * 100)}%`;
  const dateText = (iso) =>
    new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${iso.slice(0, 10)}T00:00:00Z`));
  const dateTimeText = (iso) => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));

  /** The recommendation in plain words. */
  function advice(f) {
    const drop = f.currentPrice - f.expectedLowestPrice;
    const conf = `${percent(f.confidence)} confidence`;
    if (f.recommendation === 'wait') {
      const how = drop >= 0.01 ? ` by about ${roughly(drop, f.currency)}` : '';
      return `Prices are likely to drop${how}. Waiting is the better bet; ${conf}.`;
    }
    if (f.daysBefore <= 0) return `It is the departure day: this is the last price. Buying now is the better bet; ${conf}.`;
    // A buy expects no lower price; the 80% range's low end says how far a drop could go.
    const possibleDrop = f.currentPrice - f.lowestPriceRange.low;
    if (possibleDrop >= 0.01) {
      return `A drop of about ${roughly(possibleDrop, f.currency)} is possible, but less likely than not. Buying now is the better bet; ${conf}.`;
    }
    return `Prices are unlikely to drop before departure. Buying now is the better bet; ${conf}.`;
  }

  function levelText(f) {
    if (!f.typicalPriceRange) return 'Not known yet: the route has too few prices this close to departure.';
    const range = `${money(f.typicalPriceRange.low, f.currency)}–${money(f.typicalPriceRange.high, f.currency)}`;
    return `${range} at ${daysText(f.daysBefore)} before departure`;
  }

  // ---- chart ---------------------------------------------------------------------

  /** History, outlook and the lowest-price band on one time axis (seconds). */
  function chartData(f) {
    const asOf = Date.parse(f.asOf);
    const rows = new Map(); // time → [price, expected, low, high]; one row per time
    const put = (t, col, value) => {
      if (!rows.has(t)) rows.set(t, [null, null, null, null]);
      rows.get(t)[col] = value;
    };
    for (const h of f.history) put(Date.parse(h.observedAt), 0, h.price);
    // The outlook starts at the current price, so the dashed line continues the history.
    const future = [[asOf, f.currentPrice]];
    for (const o of f.outlook) future.push([asOf + (f.daysBefore - o.daysBefore) * DAY_MS, o.expectedPrice]);
    for (const [t, expected] of future) {
      put(t, 1, expected);
      put(t, 2, f.lowestPriceRange.low);
      put(t, 3, f.lowestPriceRange.high);
    }
    const times = [...rows.keys()].sort((a, b) => a - b);
    const cols = [times.map((t) => t / 1000)];
    for (let i = 0; i < 4; i++) cols.push(times.map((t) => rows.get(t)[i]));
    return cols;
  }

  function drawChart(f) {
    if (plot) plot.destroy();
    const width = Math.max(280, els.chart.clientWidth || 600);
    const fmt = (v) => (v == null ? '–' : money(v, f.currency));
    const opts = {
      width,
      height: 320,
      scales: { x: { time: true } },
      axes: [{}, { values: (_u, ticks) => ticks.map((v) => money(v, f.currency, 0)), size: 70 }],
      series: [
        {},
        {
          label: 'Observed price',
          stroke: '#1a73e8',
          width: 2,
          spanGaps: true,
          // A fare holds until the next observation shows another one.
          paths: uPlot.paths.stepped({ align: 1 }),
          points: { show: false },
          value: (_u, v) => fmt(v),
        },
        { label: 'Expected price', stroke: '#b06000', width: 2, dash: [6, 4], spanGaps: true, points: { show: false }, value: (_u, v) => fmt(v) },
        { label: 'Lowest to come: 10%', stroke: 'rgba(19,115,51,0.6)', width: 1, spanGaps: true, points: { show: false }, value: (_u, v) => fmt(v) },
        { label: 'Lowest to come: 90%', stroke: 'rgba(19,115,51,0.6)', width: 1, spanGaps: true, points: { show: false }, value: (_u, v) => fmt(v) },
      ],
      bands: [{ series: [4, 3], fill: 'rgba(19,115,51,0.12)' }],
    };
    const data = chartData(f);
    plot = new uPlot(opts, data, els.chart);
    // Open on the recent past and the whole outlook; drag to zoom, double-click to see all of it.
    const times = data[0];
    const end = times[times.length - 1];
    const asOf = Date.parse(f.asOf) / 1000;
    const start = Math.max(times[0], asOf - Math.max(30 * 86_400, 2 * (end - asOf)));
    if (start > times[0]) plot.setScale('x', { min: start, max: end });
  }

  // ---- rendering -----------------------------------------------------------------

  function render(f) {
    shown = f;
    els.forecast.hidden = false;
    els.title.textContent = `${f.origin} → ${f.destination}, departing ${dateText(f.departureDate)}`;
    els.recommendation.textContent = advice(f);
    els.recommendation.className = `recommendation ${f.recommendation}`;
    els.current.textContent = money(f.currentPrice, f.currency);
    if (f.priceLevel) {
      const badge = document.createElement('span');
      badge.className = `level ${f.priceLevel}`;
      badge.textContent = f.priceLevel;
      els.current.append(badge);
    }
    els.lowest.textContent = `${money(f.expectedLowestPrice, f.currency)} (80%: ${money(f.lowestPriceRange.low, f.currency)}–${money(
      f.lowestPriceRange.high,
      f.currency,
    )})`;
    els.typical.textContent = levelText(f);
    els.meta.textContent = `As of ${dateTimeText(f.asOf)}, ${daysText(f.daysBefore)} before departure. Model ${f.model.version}.`;
    drawChart(f);
  }

  // ---- selection -----------------------------------------------------------------

  const routeId = (r) => `${r.origin}-${r.destination}`;

  function updateUrl(route, date) {
    const url = new URL(location.href);
    url.searchParams.set('route', route);
    if (date) url.searchParams.set('departureDate', date);
    else url.searchParams.delete('departureDate');
    history.replaceState(null, '', url);
  }

  async function showForecast() {
    const [origin, destination] = els.route.value.split('-');
    const date = els.departure.value;
    if (!date) return;
    updateUrl(els.route.value, date);
    setStatus('Loading the forecast…');
    try {
      const f = await api(`/v1/forecast?${new URLSearchParams({ origin, destination, departureDate: date })}`);
      setStatus('');
      render(f);
    } catch (error) {
      els.forecast.hidden = true;
      if (error instanceof HttpError && error.status === 503) setStatus(`No forecast yet: ${error.message}.`, true);
      else showError(error);
    }
  }

  async function loadDepartures(preferred) {
    const route = routes.find((r) => routeId(r) === els.route.value);
    els.departure.disabled = true;
    els.departure.replaceChildren();
    try {
      const { departures } = await api(`/v1/routes/${encodeURIComponent(els.route.value)}/departures`);
      for (const d of departures) {
        const option = document.createElement('option');
        option.value = d.departureDate;
        const hint = d.forecast ? ` · ${d.forecast.recommendation}` : '';
        option.textContent = `${dateText(d.departureDate)} · ${money(d.latestPrice, d.currency)}${hint}`;
        els.departure.append(option);
      }
      // By default, the first departure at least a week after the route's latest observation
      // that has a forecast, so there is an outlook to show.
      const today = route ? Date.parse(route.latestObservedAt) : 0;
      const ahead = departures.filter((d) => Date.parse(`${d.departureDate}T00:00:00Z`) >= today);
      const weekAhead = ahead.filter((d) => Date.parse(`${d.departureDate}T00:00:00Z`) - today >= 7 * DAY_MS);
      const pick =
        departures.find((d) => d.departureDate === preferred) ||
        weekAhead.find((d) => d.forecast) ||
        ahead.find((d) => d.forecast) ||
        ahead[0] ||
        departures[departures.length - 1];
      if (pick) els.departure.value = pick.departureDate;
      els.departure.disabled = departures.length === 0;
      if (departures.length === 0) setStatus('No departures on this route yet.');
      else await showForecast();
    } catch (error) {
      showError(error);
    }
  }

  async function start() {
    const params = new URLSearchParams(location.search);
    try {
      ({ routes } = await api('/v1/routes'));
    } catch (error) {
      showError(error);
      return;
    }
    els.route.replaceChildren();
    for (const r of routes) {
      const option = document.createElement('option');
      option.value = routeId(r);
      option.textContent = `${r.origin} → ${r.destination} (${r.series} departures, ${r.currency})`;
      els.route.append(option);
    }
    if (routes.length === 0) {
      setStatus('No fares yet: send fare events to POST /v1/events, or run npm run demo.');
      return;
    }
    const wanted = (params.get('route') || '').toUpperCase();
    if (routes.some((r) => routeId(r) === wanted)) els.route.value = wanted;
    els.route.disabled = false;
    await loadDepartures(params.get('departureDate') || undefined);
  }

  els.route.addEventListener('change', () => loadDepartures());
  els.departure.addEventListener('change', showForecast);
  els.keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('faresight-key', els.key.value.trim());
    els.keyForm.hidden = true;
    setStatus('');
    start();
  });
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => shown && drawChart(shown), 150);
  });

  start();
})();
