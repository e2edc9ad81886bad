// Dashboard end to end: headless Chromium loads the page, logs in with a key,
// and must see live margin updates arrive over the WebSocket.
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
  const page = await browser.newPage();
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
  const components = await page.locator('#components tbody tr').count();
  if (components < 1) throw new Error('no explanation components rendered');
  await page.waitForFunction(() => document.querySelectorAll('#plots img').length >= 3, null, { timeout: 120000 });
  const plotsLoaded = await page.evaluate(() => [...document.querySelectorAll('#plots img')].every((i) => i.complete && i.naturalWidth > 0));
  if (!plotsLoaded) throw new Error('a plot image failed to load');
  const siloed = await page.textContent('#siloed');
  const unified = await page.textContent('#unified');
  const rows = await page.locator('#venues tbody tr').count();
  if (rows < 1) throw new Error('no venue rows rendered');
  const headroom_rows = await page.locator('#headroom tbody tr').count();
  const plots = await page.locator('#plots img').count();
  const liquidation = await page.textContent('#liq-head');
  console.log(JSON.stringify({ siloed, unified, venue_rows: rows, live_updates: Number(await page.textContent('#updates')), headroom_rows, explanation_components: components, plots, liquidation }));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} catch (e) {
  console.error('dashboard e2e failed:', e.message);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
