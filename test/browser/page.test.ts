import { serve, type ServerType } from '@hono/node-server';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaticModelProvider } from '../../src/model/provider.js';
import { createTinyModel } from '../../src/model/testing.js';
import type { Service } from '../../src/service.js';
import { post } from '../helpers/http.js';
import { closeForecastServices, makeForecastService } from '../helpers/forecast.js';
import { sampleEvents } from '../helpers/sample.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SCREENSHOTS = join(process.cwd(), 'test-results');

if (!hasChromium) {
  console.warn(`browser tests skipped: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`);
}

describe.skipIf(!hasChromium)(`the price page in Chromium (${CHROMIUM})`, () => {
  let service: Service;
  let server: ServerType;
  let base: string;
  let context: BrowserContext;
  let profile: string;
  const external: string[] = [];

  beforeAll(async () => {
    const model = await createTinyModel({ version: 'tiny-page', seed: 5 });
    service = makeForecastService(createStaticModelProvider(model));
    // Real fares: two routes, departures in late March and early April 2016 (the data ends on 31 March).
    const events = [
      ...sampleEvents({ routes: ['CRL-OTP'], fromDeparture: '2016-03-25', toDeparture: '2016-04-10' }),
      ...sampleEvents({ routes: ['MMX-SKP'], fromDeparture: '2016-04-01', toDeparture: '2016-04-12' }),
    ];
    for (let i = 0; i < events.length; i += 10_000) {
      const res = await post(service.app, events.slice(i, i + 10_000), { wait: 'true' });
      expect(res.status).toBe(202);
    }
    server = serve({ fetch: service.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    profile = mkdtempSync(join(tmpdir(), 'faresight-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    // Everything must come from the service itself: record and refuse anything else.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(base) || url.startsWith('data:')) return route.continue();
      external.push(url);
      return route.abort();
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await closeForecastServices();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows the history, the outlook chart and the recommendation of a picked route and date', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.goto(`${base}/`);
    await expect.poll(() => page.locator('#route option').count(), { timeout: 15_000 }).toBe(2);
    await page.selectOption('#route', 'MMX-SKP');
    await expect.poll(() => page.locator('#departure option[value="2016-04-08"]').count(), { timeout: 15_000 }).toBe(1);
    await page.selectOption('#departure', '2016-04-08');
    await page.waitForFunction(() => document.querySelector('#title')?.textContent?.includes('MMX → SKP'), null, { timeout: 15_000 });
    await page.waitForSelector('#chart canvas', { timeout: 15_000 });

    const res = await fetch(`${base}/v1/forecast?origin=MMX&destination=SKP&departureDate=2016-04-08`);
    const forecast = await res.json();
    const text = (await page.textContent('#recommendation')) ?? '';
    expect(text).toContain(`${Math.round(forecast.confidence * 100)}% confidence`);
    expect(text).toContain(forecast.recommendation === 'wait' ? 'Waiting is the better bet' : 'Buying now is the better bet');
    // Prices are written in the forecast's currency.
    const current = (await page.textContent('#current')) ?? '';
    expect(current).toMatch(/SEK|kr/);
    expect(await page.textContent('#typical')).toMatch(/before departure|Not known yet/);

    // The chart is drawn: a canvas with a size and painted pixels, and a legend for each line.
    const painted = await page.evaluate(() => {
      const canvas = document.querySelector('#chart canvas') as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return { width: canvas.width, height: canvas.height, painted: n };
    });
    expect(painted.width).toBeGreaterThan(200);
    expect(painted.height).toBeGreaterThan(100);
    expect(painted.painted).toBeGreaterThan(1000);
    expect(await page.locator('.u-legend .u-series').count()).toBeGreaterThanOrEqual(5);

    // The choice is in the address, so the page can be shared.
    expect(page.url()).toContain('route=MMX-SKP');
    expect(page.url()).toContain('departureDate=2016-04-08');

    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'price-page.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
    await page.close();
  }, 120_000);

  it('opens a shared link on its route and date', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/?route=CRL-OTP&departureDate=2016-04-05`);
    await page.waitForFunction(() => document.querySelector('#title')?.textContent?.includes('CRL → OTP'), null, { timeout: 15_000 });
    expect(await page.inputValue('#departure')).toBe('2016-04-05');
    expect(await page.textContent('#recommendation')).toMatch(/% confidence\.$/);
    await page.close();
  }, 120_000);

  it('renders the API reference at /docs offline', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/docs`);
    // The introduction comes from /openapi.json, so it shows once the bundle ran and fetched it.
    await page.getByText('Fare forecasting from a stream of fare events').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'docs.png') });
    expect(external).toEqual([]);
    await page.close();
  }, 120_000);
});
