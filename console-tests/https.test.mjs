// The console over HTTPS in Chromium: a `portcullis serve` terminating TLS itself (tls_cert_file,
// a certificate from scripts/console-tests.sh's test CA) with its plain-HTTP redirect listener.
// Chromium trusts only that certificate's key (--ignore-certificate-errors-spki-list), so the
// page is a secure context and the `__Host-` cookies, which are Secure, must work for real.
//
// One flow, to keep CI short: the rest of the console is tested over HTTP (console.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.HTTPS_URL;
const REDIRECT = process.env.HTTPS_REDIRECT_URL;
const PASSWORD = 'correct-horse-battery-staple-42';
const skip = !BASE && 'no HTTPS server (HTTPS_URL)';

let browser;

before(async () => {
  if (!BASE) return;
  assert.ok(REDIRECT && process.env.HTTPS_SPKI, 'HTTPS_REDIRECT_URL and HTTPS_SPKI go with HTTPS_URL');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--ignore-certificate-errors-spki-list=${process.env.HTTPS_SPKI}`,
    ],
  });
});

after(async () => {
  await browser?.close();
});

async function sessionCookie(context) {
  return (await context.cookies(BASE)).find((c) => c.name === '__Host-portcullis');
}

test('over HTTPS a person signs up, signs out and signs in again with the Secure __Host- cookie', { skip }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(5000);
  const visited = [];
  page.on('request', (request) => visited.push(request.url()));

  // The plain listener only redirects, to the configured https:// address.
  const response = await page.goto(`${REDIRECT}/sign-up?from=http`);
  assert.equal(page.url(), `${BASE}/sign-up?from=http`);
  assert.equal(response.request().redirectedFrom()?.url(), `${REDIRECT}/sign-up?from=http`);
  const tls = await response.securityDetails();
  assert.equal(tls.protocol, 'TLS 1.3');
  assert.equal(tls.subjectName, '127.0.0.1');
  assert.equal(await page.evaluate(() => window.isSecureContext), true);

  await page.getByLabel('User id').fill('tess');
  await page.getByLabel('Email').fill('tess@example.com');
  await page.getByLabel('First name').fill('Tess');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${BASE}/a/tess/apps`);
  let session = await sessionCookie(context);
  assert.ok(session, 'the session cookie is stored over HTTPS');
  assert.equal(session.secure, true);
  assert.equal(session.httpOnly, true);
  assert.equal(session.domain, '127.0.0.1', 'host-only');

  await page.locator('.menu summary').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/sign-in`);
  assert.equal(await sessionCookie(context), undefined, 'signing out clears the cookie');
  await page.goto(`${BASE}/a/tess/apps`);
  assert.equal(new URL(page.url()).pathname, '/sign-in');

  await page.getByLabel('Email').fill('tess@example.com');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/a/tess/apps`);
  session = await sessionCookie(context);
  assert.equal(session?.secure, true);
  // The cookie is sent back: a signed-in page opens instead of the sign-in form.
  await page.goto(`${BASE}/account`);
  assert.equal(new URL(page.url()).pathname, '/account');

  // Nothing after the first redirect went over plain HTTP.
  assert.deepEqual(visited.filter((url) => !url.startsWith(`${BASE}/`)), [`${REDIRECT}/sign-up?from=http`]);
  await context.close();
});
