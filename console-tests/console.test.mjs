// The web console in a real browser: Debian's headless Chromium driven by playwright-core,
// against a `portcullis serve` started by scripts/console-tests.sh (PORTCULLIS_URL).
//
// One browser, one context per person, a handful of flows in order: each step builds on the
// previous one, as a new administrator would click through the console.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const BASE = process.env.PORTCULLIS_URL;
const SHOTS = process.env.SCREENSHOTS === '1' ? new URL('../docs/screenshots/', import.meta.url) : null;
const PASSWORD = 'correct-horse-battery-staple-42';

let browser;
let admin; // page of the administrator
let bob; // page of the invited member (a Team Contributor)

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true });
}

async function flash(page) {
  return (await page.locator('.flash').first().textContent()).trim();
}

async function signUp(page, id, email) {
  await page.goto(`${BASE}/sign-up`);
  await page.getByLabel('User id').fill(id);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('First name').fill(id[0].toUpperCase() + id.slice(1));
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${BASE}/a/${id}/apps`);
}

before(async () => {
  assert.ok(BASE, 'PORTCULLIS_URL must name the server under test');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // playwright-core gives each launch a fresh temporary --user-data-dir of its own.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const viewport = { width: 1280, height: 800 };
  admin = await (await browser.newContext({ viewport })).newPage();
  bob = await (await browser.newContext({ viewport })).newPage();
  admin.setDefaultTimeout(5000);
  bob.setDefaultTimeout(5000);
  // No page may reach anything but the server under test.
  for (const page of [admin, bob]) {
    page.on('request', (request) => {
      assert.ok(request.url().startsWith(BASE), `external request to ${request.url()}`);
    });
  }
});

after(async () => {
  await browser?.close();
});

test('sign in page: security headers and the __Host- session cookie', async () => {
  const response = await admin.goto(`${BASE}/sign-in`);
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.match(headers['content-security-policy'], /script-src 'self'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  await shot(admin, 'sign-in');
});

test('an admin signs up and creates an organization', async () => {
  await signUp(admin, 'alice', 'alice@example.com');
  const cookies = await admin.context().cookies();
  const session = cookies.find((c) => c.name === '__Host-portcullis');
  assert.ok(session, 'session cookie set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.path, '/');

  await admin.goto(`${BASE}/account`);
  await admin.getByLabel('Organization id').fill('acme');
  await admin.getByLabel('Name', { exact: true }).fill('Acme Corp');
  await admin.getByRole('button', { name: 'Create organization' }).click();
  await admin.waitForURL(`${BASE}/a/acme/apps`);
  assert.match(await flash(admin), /organization acme created/);
  // The org switcher lists the personal account and the new org.
  await admin.locator('.switcher summary').click();
  assert.ok(await admin.getByRole('link', { name: 'alice (personal)' }).isVisible());
  assert.ok(await admin.getByRole('link', { name: 'Acme Corp' }).isVisible());
  await admin.locator('.switcher summary').click();
});

test('the admin invites a member who accepts', async () => {
  await admin.goto(`${BASE}/a/acme/members`);
  await admin.getByLabel('Email').fill('bob@example.com');
  await admin.getByLabel('Role', { exact: true }).selectOption('team_contributor');
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  assert.match(await flash(admin), /invitation sent to bob@example.com/);
  assert.ok(await admin.getByRole('cell', { name: 'bob@example.com' }).isVisible());

  await signUp(bob, 'bob', 'bob@example.com');
  await bob.goto(`${BASE}/account`);
  await bob.getByRole('button', { name: 'Accept' }).click();
  assert.match(await flash(bob), /invitation accepted/);
  assert.ok(await bob.getByRole('link', { name: 'Acme Corp' }).isVisible());

  await admin.goto(`${BASE}/a/acme/members`);
  assert.ok(await admin.getByRole('cell', { name: /^bob \(/ }).isVisible());
  await shot(admin, 'members');
});

test('the last administrator cannot demote itself, with a clear message', async () => {
  await admin.goto(`${BASE}/a/acme/members`);
  await admin.getByLabel('Role of alice').selectOption('org_user');
  await admin.locator('form[action="/a/acme/members/alice/role"] button').click();
  assert.match(await flash(admin), /at least one Administrator/);
});

test('the admin creates apps and a team with a member and an app', async () => {
  for (const id of ['faces', 'payroll']) {
    await admin.goto(`${BASE}/a/acme/apps`);
    await admin.getByLabel('App id').fill(id);
    await admin.getByRole('button', { name: 'Create app' }).click();
    await admin.waitForURL(`${BASE}/a/acme/apps/${id}`);
  }
  await admin.goto(`${BASE}/a/acme/teams`);
  await admin.getByLabel('Team id').fill('vision');
  await admin.getByLabel('Name').fill('Vision team');
  await admin.getByLabel('Default role on apps').selectOption('model_trainer');
  await admin.getByRole('button', { name: 'Create team' }).click();
  await admin.waitForURL(`${BASE}/a/acme/teams/vision`);
  await admin.getByLabel('Add member').selectOption('bob');
  await admin.getByRole('button', { name: 'Add to team' }).click();
  assert.match(await flash(admin), /bob added to the team/);
  await admin.getByLabel('Add app').selectOption('faces');
  await admin.getByLabel('Team role').selectOption('full_access');
  await admin.getByRole('button', { name: 'Add app' }).click();
  assert.match(await flash(admin), /app faces linked as full_access/);
  await shot(admin, 'team');

  await admin.goto(`${BASE}/a/acme/apps/faces`);
  assert.ok(await admin.getByRole('link', { name: 'Vision team' }).isVisible());
  await admin.getByLabel('Description').fill('Face detection');
  await admin.getByRole('button', { name: 'Save settings' }).click();
  assert.match(await flash(admin), /app settings saved/);
  await shot(admin, 'app-settings');
});

test('the admin sets a password policy on the Security page', async () => {
  await admin.goto(`${BASE}/a/acme/apps`);
  await admin.locator('.menu summary').click();
  await admin.getByRole('banner').getByRole('link', { name: 'Security' }).click();
  await admin.waitForURL(`${BASE}/a/acme/security`);
  await admin.getByLabel('Minimum length').fill('12');
  await admin.getByLabel('Failed sign-ins before lockout (0 = never)').fill('5');
  await admin.getByRole('button', { name: 'Save password policy' }).click();
  assert.match(await flash(admin), /password policy saved/);
  assert.equal(await admin.getByLabel('Minimum length').inputValue(), '12');
  await admin.getByLabel(/Start from a preset/).selectOption('nist');
  await admin.getByRole('button', { name: 'Save password policy' }).click();
  assert.match(await flash(admin), /from the `nist` preset/);
  assert.equal(await admin.getByLabel('Minimum length').inputValue(), '15');
  await shot(admin, 'security');
});

test('the admin creates an identity provider and toggles it on', async () => {
  const certificate = readFileSync(new URL('../crates/saml/tests/fixtures/idp.crt', import.meta.url), 'utf8');
  await admin.goto(`${BASE}/a/acme/security`);
  await admin.getByText('Create Identity Provider').click();
  await admin.getByLabel('Identity provider id').fill('okta');
  await admin.getByLabel('Name', { exact: true }).fill('Okta');
  await admin.getByLabel('Entity id').fill('https://idp.example.com/metadata');
  await admin.getByLabel('SSO URL').fill('https://idp.example.com/sso');
  await admin.getByLabel('Signing certificate (PEM)').fill(certificate);
  await admin.getByRole('button', { name: 'Create', exact: true }).click();
  assert.match(await flash(admin), /identity provider created/);
  const row = admin.getByRole('row', { name: /Okta/ });
  assert.match(await row.textContent(), /Off/);
  assert.match(await row.textContent(), /expires/);
  await admin.getByRole('button', { name: 'Enable okta' }).click();
  assert.match(await flash(admin), /identity provider okta enabled/);
  assert.ok(await admin.getByRole('button', { name: 'Disable okta' }).isVisible());
  await shot(admin, 'identity-providers');
});

test('the admin views the audit log and the role summary', async () => {
  await admin.goto(`${BASE}/a/acme/audit`);
  const table = admin.locator('main table');
  assert.match(await table.textContent(), /organization\.team\.create|team/);
  await shot(admin, 'audit-log');
  const csv = await admin.request.get(`${BASE}/a/acme/audit/export.csv`);
  assert.equal(csv.status(), 200);
  assert.match(await csv.text(), /^id,at,actor,operation/);

  await admin.goto(`${BASE}/a/acme/security`);
  await admin.getByRole('link', { name: /summary of the permissions assigned to each role/ }).click();
  await admin.waitForURL(`${BASE}/a/acme/roles`);
  const header = await admin.locator('table.matrix thead').textContent();
  assert.match(header, /Team Contributor \(select apps\)/);
  const viewFinancial = admin.getByRole('row', { name: /View Financial Data/ });
  assert.equal((await viewFinancial.locator('td.yes').count()), 2);
  await shot(admin, 'role-summary');

  await admin.goto(`${BASE}/a/acme/access-review?app=faces&member=bob`);
  assert.match(await admin.locator('main').textContent(), /team:vision/);
});

test('the admin opens Compute and Costs from the sidebar', async () => {
  await admin.goto(`${BASE}/a/acme/apps`);
  await admin.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Compute' }).click();
  assert.match(await admin.locator('h1').textContent(), /Compute/);
  await admin.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Costs' }).click();
  assert.match(await admin.locator('h1').textContent(), /Costs/);
  const csv = await admin.request.get(await admin.getByRole('link', { name: 'Download CSV' }).getAttribute('href', { timeout: 5000 }).then((h) => `${BASE}${h}`));
  assert.equal(csv.status(), 200);
  assert.match(await csv.text(), /^day,category,model,currency,amount_cents,records/);
});

test('a Team Contributor sees only its team apps and cannot open another app by URL', async () => {
  await bob.goto(`${BASE}/a/acme/apps`);
  const apps = await bob.locator('main table').textContent();
  assert.match(apps, /faces/);
  assert.doesNotMatch(apps, /payroll/);
  assert.ok(await bob.getByRole('button', { name: 'Create app' }).isDisabled());
  // Its menu offers no Security page.
  assert.equal(await bob.locator('.menu a[href="/a/acme/security"]').count(), 0);
  assert.equal(await bob.locator('.sidebar a[href="/a/acme/billing"]').count(), 0);

  const hidden = await bob.goto(`${BASE}/a/acme/apps/payroll`);
  assert.equal(hidden.status(), 404);
  const security = await bob.goto(`${BASE}/a/acme/security`);
  assert.equal(security.status(), 403);

  await bob.goto(`${BASE}/a/acme/apps/faces`);
  assert.ok(await bob.getByLabel('App id').isDisabled(), 'a team contributor cannot edit the app id');
  assert.ok(await bob.getByLabel('Description').isEnabled());
  await shot(bob, 'team-contributor-app');
});

test('a form post without the CSRF token is refused', async () => {
  // The admin may invite, yet the same post without the token is refused before anything runs.
  const refused = await admin.request.post(`${BASE}/a/acme/members/invite`, {
    form: { email: 'mallory@example.com', role: 'admin' },
  });
  assert.equal(refused.status(), 403);
  const wrong = await admin.request.post(`${BASE}/a/acme/members/invite`, {
    form: { email: 'mallory@example.com', role: 'admin', csrf: 'x'.repeat(64) },
  });
  assert.equal(wrong.status(), 403);
  await admin.goto(`${BASE}/a/acme/members`);
  assert.equal(await admin.getByRole('cell', { name: 'mallory@example.com' }).count(), 0);
});

test('sign out ends the session', async () => {
  await bob.locator('.menu summary').click();
  await bob.getByRole('button', { name: 'Sign out' }).click();
  await bob.waitForURL(`${BASE}/sign-in`);
  await bob.goto(`${BASE}/a/acme/apps`);
  assert.equal(new URL(bob.url()).pathname, '/sign-in');

  // Sign in again with "remember me".
  await bob.getByLabel('Email').fill('bob@example.com');
  await bob.getByLabel('Password').fill(PASSWORD);
  await bob.getByLabel(/Remember me/).check();
  await bob.getByRole('button', { name: 'Sign in' }).click();
  await bob.waitForURL(`${BASE}/a/acme/apps`);
  const session = (await bob.context().cookies()).find((c) => c.name === '__Host-portcullis');
  assert.ok(session.expires > Date.now() / 1000 + 7 * 86400, 'remember me keeps the cookie');
});
