// Dashboard end to end: headless Chromium loads the page at 1,400 px, logs in with a key, lands
// on the demo book, must see live margin updates arrive over the WebSocket, and checks the risk
// page: figures with currencies, positions with mark / uPnL / liquidation distance, portfolio
// Greeks, prices per venue, which venue liquidates first, the venues' own figures reconciled,
// explained alerts, large plots that enlarge on click, tables that do not overflow.
// Screenshots are saved next to SCREENSHOT (SCREENSHOT, and -plot.png / -history.png / -narrow.png variants)
// as test artifacts.
// Usage: node dashboard.mjs http://127.0.0.1:PORT KEY SCREENSHOT.png
import { chromium } from 'playwright-core';

const [, , base, key, shot] = process.argv;
if (!base || !key) {
  console.error('usage: node dashboard.mjs BASE_URL KEY [SCREENSHOT]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => { console.error('page error:', e.message); failed = true; });
  await page.goto(base, { waitUntil: 'load' });
  await page.fill('#key', key);
  await page.click('#login-btn');
  // The first figures come from the REST call; live ones from the WebSocket feed.
  await page.waitForFunction(() => document.getElementById('siloed').textContent !== '–', null, { timeout: 20000 });
  await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, { timeout: 20000 });
  const before = Number(await page.textContent('#updates'));
  await page.waitForFunction((n) => Number(document.getElementById('updates').textContent) >= n + 2, before, { timeout: 30000 });
  // Allocation and liquidation plans, the explanation, and the demo stress/frontier plots.
  await page.waitForFunction(() => document.querySelectorAll('#headroom tbody tr').length >= 2, null, { timeout: 20000 });
  await page.waitForFunction(() => !document.getElementById('liq-head').textContent.startsWith('–'), null, { timeout: 20000 });
  // Reconcile panel: it renders the API's answer (the demo book's figures, or the note that
  // nothing was imported from venue payloads), never an error.
  await page.waitForFunction(() => !document.getElementById('recon-head').textContent.startsWith('–'), null, { timeout: 20000 });
  const reconHead = await page.textContent('#recon-head');
  if (!/^(\d+ of \d+ reported figures agree|No venue-reported figures)/.test(reconHead)) throw new Error(`reconcile panel: ${reconHead}`);
  const components = await page.locator('#components tbody tr').count();
  if (components < 1) throw new Error('no explanation components rendered');
  await page.waitForFunction(() => document.querySelectorAll('#plots img').length >= 3, null, { timeout: 120000 });
  // Images load asynchronously: wait for each to finish; one that errors (complete, width 0) or
  // never loads fails the test.
  const plotsLoaded = await page.waitForFunction(() => [...document.querySelectorAll('#plots img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 30000 }).then(() => true, () => false);
  if (!plotsLoaded) {
    const bad = await page.evaluate(() => [...document.querySelectorAll('#plots img')].filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute('src')));
    throw new Error(`a plot image failed to load: ${JSON.stringify(bad)}`);
  }
  // Admin lands on the demo book.
  const account = await page.inputValue('#account');
  if (account !== 'hedged') throw new Error(`admin landed on ${account}, not the demo book "hedged"`);
  // Figures carry their currency; ratios are percentages; no base-unit integers are shown.
  for (const id of ['#equity', '#siloed', '#unified', '#unified-mm', '#saving']) {
    const t = await page.textContent(id);
    if (!/ USD/.test(t)) throw new Error(`${id} has no currency: ${t}`);
  }
  const venueText = await page.textContent('#venues tbody');
  if (!venueText.includes('%') || !venueText.includes('BTC') || !venueText.includes('USDT')) throw new Error(`venue table lacks % or currencies: ${venueText}`);
  const bodyText = await page.innerText('main');
  const longInt = bodyText.match(/\b\d{9,}\b/);
  if (longInt) throw new Error(`a base-unit integer is shown: ${longInt[0]}`);
  const collateralText = await page.textContent('#collateral tbody');
  if (!/USDC/.test(collateralText) || !/\d,\d{3}/.test(collateralText)) throw new Error(`collateral not in asset units: ${collateralText}`);
  // Positions: mark, uPnL with currency, venue liquidation price and distance in %.
  await page.waitForFunction(() => document.querySelectorAll('#positions tbody tr').length >= 3, null, { timeout: 20000 });
  const positions = await page.$$eval('#positions tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  if (!positions.every((r) => r[3] !== '–' && / (BTC|USDT|USD)$/.test(r[4]))) throw new Error(`positions lack mark or uPnL: ${JSON.stringify(positions)}`);
  if (!positions.some((r) => r[8].endsWith('%'))) throw new Error(`no liquidation distance: ${JSON.stringify(positions)}`);
  // Our liquidation price beside the venue's, with its distance in %; where the venue publishes
  // one for the same position, the two are close (the same maintenance line, found by search).
  if (!positions.some((r) => /\d/.test(r[9]) && r[10].endsWith('%'))) throw new Error(`no liquidation price of ours: ${JSON.stringify(positions)}`);
  const ourVsVenue = positions.filter((r) => /\d/.test(r[7]) && /\d/.test(r[9])).map((r) => {
    const n = (t) => Number(t.replace(/,/g, ''));
    return { instrument: r[0], venue: n(r[7]), ours: n(r[9]) };
  });
  console.log(JSON.stringify({ liquidation_prices: ourVsVenue }));
  const firstLiq = await page.textContent('#first-liq');
  if (!firstLiq.startsWith('First to liquidate')) throw new Error(`which venue liquidates first is missing: ${firstLiq}`);
  const greeks = await page.$$eval('#greeks tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  if (!greeks.length || !greeks[0][1].includes('BTC') || !greeks[0][2].includes('USD')) throw new Error(`portfolio Greeks missing: ${JSON.stringify(greeks)}`);
  const prices = await page.$$eval('#prices tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  if (prices.length < 2 || !prices.every((r) => /^\d{4}-\d\d-\d\d /.test(r[3]))) throw new Error(`price times per venue missing: ${JSON.stringify(prices)}`);
  const rules = await page.textContent('#alert-rules');
  if (!rules.includes('margin call') || !rules.includes('circuit breaker')) throw new Error('alerts are not explained');
  if ((await page.locator('#alert-history li').count()) < 1) throw new Error('no ledger alert history');
  // History chart: equity, siloed and unified requirements and saving, titled, with axis units
  // and a legend.
  await page.waitForFunction(() => document.querySelectorAll('#history polyline').length === 5, null, { timeout: 30000 });
  const chart = await page.evaluate(() => ({
    title: document.querySelector('#history text.ctitle')?.textContent || '',
    axes: [...document.querySelectorAll('#history text.axis')].map((t) => t.textContent),
    legend: [...document.querySelectorAll('#history-legend span')].map((s) => s.textContent),
  }));
  if (!/Equity, requirement \(siloed and unified\) and capital saved, USD/.test(chart.title)) throw new Error(`history chart title: ${JSON.stringify(chart)}`);
  if (!chart.axes.includes('time (UTC)') || !chart.axes.includes('USD')) throw new Error(`history chart axes lack units: ${JSON.stringify(chart)}`);
  for (const name of ['equity', 'siloed requirement', 'unified initial margin', 'unified maintenance margin', 'capital saved']) {
    if (!chart.legend.some((l) => l.startsWith(name) && l.endsWith('(USD)'))) throw new Error(`history legend lacks ${name}: ${JSON.stringify(chart)}`);
  }
  // No table overflows its panel, and the page does not scroll sideways, at 1,400 px.
  const overflow = await page.evaluate(() => {
    const bad = [...document.querySelectorAll('main section')].filter((s) => s.scrollWidth > s.clientWidth + 1).map((s) => s.querySelector('h2').textContent);
    return { bad, page: document.documentElement.scrollWidth };
  });
  if (overflow.bad.length || overflow.page > 1400) throw new Error(`overflow at 1,400 px: ${JSON.stringify(overflow)}`);
  // Plots are large, titled, and enlarge on click.
  const plotInfo = await page.$$eval('#plots figure', (fs) => fs.map((f) => ({ w: f.querySelector('img').getBoundingClientRect().width, title: f.querySelector('figcaption b').textContent })));
  if (!plotInfo.every((p) => p.w >= 500 && p.title.length > 10 && !/\.(png|svg)$/.test(p.title))) throw new Error(`plots are small or untitled: ${JSON.stringify(plotInfo)}`);
  const siloed = await page.textContent('#siloed');
  const unified = await page.textContent('#unified');
  const rows = await page.locator('#venues tbody tr').count();
  if (rows < 1) throw new Error('no venue rows rendered');
  const headroom_rows = await page.locator('#headroom tbody tr').count();
  const plots = await page.locator('#plots img').count();
  const liquidation = await page.textContent('#liq-head');
  console.log(JSON.stringify({ account, siloed, unified, venue_rows: rows, positions: positions.length, greeks, first_liquidation: firstLiq, live_updates: Number(await page.textContent('#updates')), headroom_rows, explanation_components: components, reconcile: reconHead, plots, plot_widths: plotInfo.map((p) => Math.round(p.w)), liquidation }));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  await page.click('#plots figure img');
  await page.waitForSelector('#lightbox.open', { timeout: 5000 });
  if (shot) await page.screenshot({ path: shot.replace(/\.png$/, '-plot.png') });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#lightbox.open', { state: 'detached', timeout: 5000 }).catch(() => {});
  if (await page.isVisible('#lightbox.open')) throw new Error('the enlarged plot does not close');
  // The history is the ledger's: after a reload (no live update seen yet by the new page) the
  // chart is drawn from the stored points, as many as the API returns.
  await page.reload({ waitUntil: 'load' });
  await page.waitForFunction(() => /^\d+ points from the ledger/.test(document.getElementById('history-note').textContent), null, { timeout: 20000 });
  const stored = await page.evaluate(async () => {
    const r = await fetch('/api/v1/accounts/hedged/history?limit=2000', { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('im_key') } });
    return (await r.json()).points.length;
  });
  const shownStored = Number((await page.textContent('#history-note')).match(/^(\d+) points/)[1]);
  if (stored < 2 || shownStored < 2 || shownStored > stored) throw new Error(`history after reload: page ${shownStored}, ledger ${stored}`);
  if ((await page.locator('#history polyline').count()) !== 5) throw new Error('history chart not drawn from the ledger after reload');
  const pointsDrawn = await page.evaluate(() => document.querySelector('#history polyline').getAttribute('points').trim().split(/\s+/).length);
  if (pointsDrawn < shownStored) throw new Error(`chart draws ${pointsDrawn} points, ledger gave ${shownStored}`);
  console.log(JSON.stringify({ history_chart: chart, history_points_from_ledger: shownStored, history_points_drawn: pointsDrawn }));
  if (shot) await page.locator('#history').screenshot({ path: shot.replace(/\.png$/, '-history.png') });
  // A narrow (phone) width: tables scroll inside their panels, the page itself does not.
  await page.setViewportSize({ width: 420, height: 900 });
  const narrow = await page.evaluate(() => document.documentElement.scrollWidth);
  if (narrow > 421) throw new Error(`page overflows at 420 px: ${narrow}`);
  if (shot) await page.screenshot({ path: shot.replace(/\.png$/, '-narrow.png'), fullPage: true });
} catch (e) {
  console.error('dashboard e2e failed:', e.message);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
