// The web console in a real browser: Debian's headless Chromium driven by playwright-core,
// against a `portcullis serve` started by scripts/console-tests.sh (PORTCULLIS_URL).
//
// One browser, one context per person, a handful of flows in order: each step builds on the
// previous one, as a new administrator would click through the console.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.PORTCULLIS_URL;
const SHOTS = process.env.SCREENSHOTS === '1' ? new URL('../docs/screenshots/', import.meta.url) : null;
const PASSWORD = 'correct-horse-battery-staple-42';
const VIEWPORT = { width: 1280, height: 800 };

let browser;
let admin; // page of the administrator
let bob; // page of the invited member (a Team Contributor)
let guest; // a signed-out browser

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

// Mail the real SMTP relay received (scripts/console-tests.sh): n.eml raw, n.txt its text part.
function mails() {
  const dir = process.env.MAILDIR;
  return readdirSync(dir)
    .filter((f) => /^\d+\.eml$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
    .map((f) => {
      const raw = readFileSync(join(dir, f), 'utf8');
      const header = (name) => (raw.match(new RegExp(`^${name}: (.*)$`, 'mi')) || [])[1]?.trim();
      return {
        to: header('X-Envelope-To'),
        subject: header('Subject'),
        text: readFileSync(join(dir, f.replace('.eml', '.txt')), 'utf8'),
      };
    });
}

// Waits for a mail to `to` whose subject matches, and returns the path of its link to `path`.
async function mailedLink(to, subject, path) {
  for (let i = 0; i < 200; i++) {
    const mail = mails().find((m) => m.to === to && subject.test(m.subject || ''));
    if (mail) {
      const found = mail.text.match(new RegExp(`https?://[^/\\s]+(${path}\\?token=[A-Za-z0-9_]+)`));
      assert.ok(found, `no ${path} link in: ${mail.text}`);
      return found[1];
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`no mail "${subject}" to ${to}`);
}

// Follows the verification link mailed to `email` in `page`'s browser.
async function verifyByMail(page, email) {
  const verify = await mailedLink(email, /Verify your email address/, '/verify-email');
  await page.goto(`${BASE}${verify}`);
  await page.getByRole('button', { name: 'Verify my address' }).click();
  assert.match(await page.locator('main').textContent(), /is verified/);
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
  const viewport = VIEWPORT;
  admin = await (await browser.newContext({ viewport })).newPage();
  bob = await (await browser.newContext({ viewport })).newPage();
  guest = await (await browser.newContext({ viewport })).newPage();
  admin.setDefaultTimeout(5000);
  bob.setDefaultTimeout(5000);
  guest.setDefaultTimeout(5000);
  // No page may reach anything but the server under test.
  for (const page of [admin, bob, guest]) {
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

  // Bob signs up: unverified until he follows the link mailed to him through real SMTP.
  await signUp(bob, 'bob', 'bob@example.com');
  await bob.goto(`${BASE}/account`);
  assert.match(await bob.locator('#email-state').textContent(), /not verified yet/);
  const verify = await mailedLink('bob@example.com', /Verify your email address/, '/verify-email');
  await bob.goto(`${BASE}${verify}`);
  await bob.getByRole('button', { name: 'Verify my address' }).click();
  assert.match(await bob.locator('main').textContent(), /bob@example\.com is verified/);

  // The invitation mail's link opens the accept page for the signed-in Bob.
  const accept = await mailedLink('bob@example.com', /invited/, '/invitations/accept');
  await bob.goto(`${BASE}${accept}`);
  assert.match(await bob.locator('main').textContent(), /Join acme as Team Contributor/);
  await bob.getByRole('button', { name: 'Accept the invitation' }).click();
  await bob.waitForURL(`${BASE}/a/acme/apps`);
  assert.match(await flash(bob), /you joined acme/);
  await bob.goto(`${BASE}/account`);
  assert.match(await bob.locator('#email-state').textContent(), /is verified/);
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
  await admin.getByLabel('Description', { exact: true }).fill('Face detection');
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

test('the admin claims a domain, sees the TXT record to publish, and removes it', async () => {
  await admin.goto(`${BASE}/a/acme/security`);
  await admin.getByLabel('Domain', { exact: true }).fill('Acme.Example');
  await admin.getByRole('button', { name: 'Add domain' }).click();
  assert.match(await flash(admin), /domain acme\.example added/);
  const row = admin.getByRole('row', { name: /acme\.example/ });
  const text = await row.textContent();
  assert.match(text, /pending/);
  assert.match(text, /_portcullis-challenge\.acme\.example/);
  assert.match(text, /portcullis-domain-verification=[a-z0-9]{32}/);
  await admin.getByRole('button', { name: 'Remove acme.example' }).click();
  assert.match(await flash(admin), /domain acme\.example removed/);
  assert.equal(await admin.getByRole('row', { name: /acme\.example/ }).count(), 0);
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

// A SCIM request as an identity provider sends it (Okta's shapes), with the token from the page.
async function scim(method, path, token, body) {
  const response = await fetch(`${BASE}/scim/v2/orgs/acme/${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/scim+json',
      Accept: 'application/scim+json',
    },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

test('the admin creates a SCIM token, an IdP provisions with it, the activity shows, and a revoked token stops working', async () => {
  await admin.goto(`${BASE}/a/acme/apps`);
  await admin.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'SCIM' }).click();
  await admin.waitForURL(`${BASE}/a/acme/scim`);
  assert.match(await admin.getByLabel('SCIM base URL').inputValue(), /\/scim\/v2\/orgs\/acme\/$/);
  assert.match(await admin.locator('main').textContent(), /No SCIM token yet/);

  // Create: the secret is on the answer page only.
  await admin.getByLabel('Description of the new token').fill('Okta production');
  await admin.getByRole('button', { name: 'Create SCIM token' }).click();
  const token = await admin.getByLabel('SCIM bearer token').inputValue();
  assert.ok(token.length > 20, `a token: ${token}`);
  assert.match(await admin.locator('main').textContent(), /will not show it again/);
  const row = admin.locator('#scim-tokens tbody tr', { hasText: 'Okta production' });
  // Columns: token, created, last used, expires, state.
  const lastUsed = row.locator('td').nth(2);
  assert.equal((await lastUsed.textContent()).trim(), 'never'); // not used yet
  await shot(admin, 'scim');
  await admin.goto(`${BASE}/a/acme/scim`);
  assert.equal(await admin.getByLabel('SCIM bearer token').count(), 0);
  assert.ok(!(await admin.content()).includes(token), 'the secret is shown once only');

  // The identity provider provisions a person and finds it with Okta's filter.
  const created = await scim('POST', 'Users', token, {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: 'dora@dora.example',
    name: { givenName: 'Dora', familyName: 'Explorer' },
    emails: [{ value: 'dora@dora.example', primary: true, type: 'work' }],
    active: true,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const found = await scim('GET', `Users?filter=${encodeURIComponent('userName eq "dora@dora.example"')}`, token);
  assert.equal(found.status, 200);
  assert.equal(found.body.totalResults, 1);
  // A refused request shows as an error in the activity.
  const duplicate = await scim('POST', 'Users', token, {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: 'dora@dora.example',
    emails: [{ value: 'dora@dora.example', primary: true }],
  });
  assert.equal(duplicate.status, 409);

  await admin.goto(`${BASE}/a/acme/scim`);
  const activity = await admin.locator('#scim-activity').textContent();
  assert.match(activity, new RegExp(created.body.id));
  assert.match(activity, /refused/);
  assert.match((await lastUsed.textContent()).trim(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/); // last used is set
  await admin.goto(`${BASE}/a/acme/members`);
  assert.match(await admin.locator('main').textContent(), new RegExp(created.body.id));

  // Rotate: a new secret, shown once; the old one still works during the overlap.
  await admin.goto(`${BASE}/a/acme/scim`);
  const id = await row.getAttribute('data-token');
  await admin.getByRole('button', { name: `Rotate ${id}` }).click();
  const rotated = await admin.getByLabel('SCIM bearer token').inputValue();
  assert.notEqual(rotated, token);
  assert.equal((await scim('GET', 'ServiceProviderConfig', rotated)).status, 200);
  assert.equal((await scim('GET', 'ServiceProviderConfig', token)).status, 200);

  // Revoke every live token: each stops working at once.
  await admin.goto(`${BASE}/a/acme/scim`);
  for (let i = 0; i < 5; i++) {
    const revoke = admin.getByRole('button', { name: /^Revoke / }).first();
    if ((await revoke.count()) === 0) break;
    await revoke.click();
    assert.match(await flash(admin), /revoked/);
  }
  assert.match(await admin.locator('#scim-tokens').textContent(), /revoked/);
  assert.equal((await scim('GET', 'Users', token)).status, 401);
  assert.equal((await scim('GET', 'Users', rotated)).status, 401);
});

test('a member who is not an administrator cannot open the SCIM page nor post to it', async () => {
  const response = await bob.goto(`${BASE}/a/acme/scim`);
  assert.ok([403, 404].includes(response.status()), `status ${response.status()}`);
  assert.equal(await bob.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'SCIM' }).count(), 0);
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
  assert.ok(await bob.getByLabel('Description', { exact: true }).isEnabled());
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

/** The CSRF token of the page's forms (every signed-in page has one, in the menu). */
async function csrfOf(page) {
  return page.locator('input[name="csrf"]').first().inputValue();
}

/** The rules the live password check lists under `list`, once it has answered. */
async function liveRules(page, list) {
  await page.locator(`${list} li`).first().waitFor();
  return page.locator(`${list} li.violation`).evaluateAll((items) => items.map((i) => i.dataset.rule));
}

test('sign-up shows the violated password rules live, and works without JavaScript', async () => {
  const checks = [];
  guest.on('request', (r) => { if (r.url().endsWith('/password-check')) checks.push(r.method()); });
  await guest.goto(`${BASE}/sign-up`);
  const script = await guest.request.get(`${BASE}/assets/password-check.js`);
  assert.equal(script.status(), 200);
  assert.match(script.headers()['content-type'], /javascript/);
  await guest.getByLabel('Password').pressSequentially('abc');
  assert.ok((await liveRules(guest, '#password-rules')).includes('minimum_length'));
  assert.match(await guest.locator('#password-rules').textContent(), /minimum_length/);
  await guest.getByLabel('Password').fill(PASSWORD);
  await guest.locator('#password-rules li.ok').waitFor();
  assert.equal(await guest.locator('#password-rules li.violation').count(), 0);
  assert.ok(checks.length > 0 && checks.every((m) => m === 'POST'), 'the page asked the console itself');

  // Without JavaScript the same form still posts, and the server names the broken rule.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const page = await plain.newPage();
  await page.goto(`${BASE}/sign-up`);
  await page.getByLabel('User id').fill('dave');
  await page.getByLabel('Email').fill('dave@example.com');
  await page.getByLabel('Password').fill('abc');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${BASE}/sign-up`);
  assert.match(await flash(page), /password policy: .*minimum_length/);
  await plain.close();
});

test('the password change shows the rules of the member\'s organization live', async () => {
  await admin.goto(`${BASE}/account`);
  // 12 characters pass the server-wide default but not acme's `nist` policy (15).
  await admin.getByLabel('New password').pressSequentially('Tr0ub4dor&3x');
  assert.deepEqual(await liveRules(admin, '#pw-rules'), ['minimum_length']);
  await shot(admin, 'account-password');
  const next = 'an-even-longer-horse-battery-staple-7';
  await admin.getByLabel('New password').fill(next);
  await admin.locator('#pw-rules li.ok').waitFor();
  await admin.getByLabel('Current password').fill(PASSWORD);
  await admin.getByRole('button', { name: 'Change password' }).click();
  assert.match(await flash(admin), /password changed/);
});

test('the password reset pages check the new password live and refuse a bad token', async () => {
  await guest.goto(`${BASE}/sign-in`);
  await guest.getByRole('link', { name: 'Forgot your password?' }).click();
  await guest.getByLabel('Email').fill('nobody@example.com');
  await guest.getByRole('button', { name: 'Send reset token' }).click();
  await guest.waitForURL(`${BASE}/password-reset/confirm`);
  assert.match(await flash(guest), /if the address belongs to an account/);
  await guest.getByLabel('Reset token').fill('pcr_not-a-real-token');
  await guest.getByLabel('New password').pressSequentially('abc');
  assert.ok((await liveRules(guest, '#new-rules')).includes('minimum_length'));
  await guest.getByLabel('New password').fill(PASSWORD);
  await guest.getByRole('button', { name: 'Set new password' }).click();
  assert.match(await flash(guest), /token is unknown, expired or already used/);
});

test('the sign-in page shows the enabled SSO buttons of an organization', async () => {
  await guest.goto(`${BASE}/sign-in`);
  await guest.getByLabel('Organization id (single sign-on)').fill('acme');
  await guest.getByRole('button', { name: 'Show SSO options' }).click();
  await guest.waitForURL(`${BASE}/sign-in?org=acme`);
  const button = guest.getByRole('link', { name: 'Sign in with Okta' });
  assert.equal(await button.getAttribute('href'), '/saml/acme/okta/login');
  await shot(guest, 'sign-in-sso');
  await guest.goto(`${BASE}/sign-in?org=nope`);
  assert.match(await guest.locator('#sso-note').textContent(), /no organization `nope`/);
  assert.equal(await guest.locator('.sso a').count(), 0);
});

test('the admin edits an identity provider, sees an expiring certificate, enforces SSO and deletes a provider', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-cert-'));
  let soon;
  try {
    soon = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'),
      '-subj', '/CN=soon.example.com', '-days', '10'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await admin.goto(`${BASE}/a/acme/security`);
  await admin.getByText('Edit or delete okta').click();
  await admin.getByLabel('Name of okta').fill('Okta SSO');
  await admin.getByLabel(/Replace the signing certificate/).fill(soon);
  await admin.getByRole('button', { name: 'Save okta' }).click();
  assert.match(await flash(admin), /identity provider okta saved/);
  const row = admin.getByRole('row', { name: /Okta SSO/ });
  assert.match(await row.textContent(), /soon\.example\.com — expires/);
  assert.match(await row.locator('.cert-warning').textContent(), /expiring soon/);
  await guest.goto(`${BASE}/sign-in?org=acme`);
  assert.ok(await guest.getByRole('link', { name: 'Sign in with Okta SSO' }).isVisible());

  // SSO enforcement with the admin as break-glass, then off again.
  await admin.getByLabel(/Enforce SSO/).check();
  await admin.getByRole('group', { name: /Break-glass/ }).getByLabel('alice').check();
  await admin.getByRole('button', { name: 'Save SSO enforcement' }).click();
  assert.match(await flash(admin), /SSO enforcement on/);
  assert.match(await admin.locator('section[aria-labelledby="sso-h"]').textContent(), /is enforced/);
  assert.ok(await admin.getByRole('group', { name: /Break-glass/ }).getByLabel('alice').isChecked());
  await shot(admin, 'sso-enforcement');
  await admin.getByLabel(/Enforce SSO/).uncheck();
  await admin.getByRole('button', { name: 'Save SSO enforcement' }).click();
  assert.match(await flash(admin), /SSO enforcement off/);

  // A second provider, deleted after a wrong then a right confirmation.
  const certificate = readFileSync(new URL('../crates/saml/tests/fixtures/idp.crt', import.meta.url), 'utf8');
  await admin.getByText('Create Identity Provider').click();
  await admin.getByLabel('Identity provider id').fill('spare');
  await admin.getByLabel('Entity id', { exact: true }).fill('https://spare.example.com/metadata');
  await admin.getByLabel('SSO URL', { exact: true }).fill('https://spare.example.com/sso');
  await admin.getByLabel('Signing certificate (PEM)').fill(certificate);
  await admin.getByRole('button', { name: 'Create', exact: true }).click();
  assert.match(await flash(admin), /identity provider created/);
  await admin.getByText('Edit or delete spare').click();
  await admin.getByLabel('Type spare to delete the identity provider').fill('okta');
  await admin.getByRole('button', { name: 'Delete identity provider spare' }).click();
  assert.match(await flash(admin), /type its id `spare`/);
  await admin.getByText('Edit or delete spare').click();
  await admin.getByLabel('Type spare to delete the identity provider').fill('spare');
  await admin.getByRole('button', { name: 'Delete identity provider spare' }).click();
  assert.match(await flash(admin), /identity provider spare deleted/);
  assert.equal(await admin.getByRole('row', { name: /spare/ }).count(), 0);
});

// Browser SSO end to end with real IdP software: pysaml2, started by scripts/console-tests.sh
// as another site (localhost) than the server (127.0.0.1), as a real IdP would be.
test('a person clicks "Sign in with" an IdP, authenticates there and lands signed in to the console', { skip: !process.env.IDP_URL && 'no test IdP (IDP_URL)' }, async () => {
  const IDP = process.env.IDP_URL;
  const certificate = readFileSync(new URL('../crates/saml/tests/fixtures/idp.crt', import.meta.url), 'utf8');
  // Every option the API has is on the form.
  await admin.goto(`${BASE}/a/acme/security`);
  await admin.getByText('Create Identity Provider').click();
  await admin.getByLabel('Identity provider id').fill('pysaml');
  await admin.getByLabel('Name', { exact: true }).fill('pysaml2');
  await admin.getByLabel('Entity id', { exact: true }).fill(`${IDP}/metadata`);
  await admin.getByLabel('SSO URL', { exact: true }).fill(`${IDP}/sso/redirect`);
  await admin.getByLabel('Signing certificate (PEM)').fill(certificate);
  await admin.getByLabel(/JIT provisioning \(new/).check();
  await admin.getByLabel('Role of JIT members', { exact: true }).selectOption('team_contributor');
  await admin.getByLabel('NameID format', { exact: true }).selectOption({ label: 'email address' });
  await admin.getByLabel('Email attribute', { exact: true }).fill('mail');
  await admin.getByLabel('First name attribute', { exact: true }).fill('givenName');
  await admin.getByLabel('Last name attribute', { exact: true }).fill('sn');
  await admin.getByLabel('Groups attribute', { exact: true }).fill('memberOf');
  await admin.getByLabel(/Group to team mapping \(one/).fill('ml-engineers = vision');
  await admin.getByLabel('Clock skew (seconds)', { exact: true }).fill('90');
  await admin.getByLabel('Enable', { exact: true }).check();
  await admin.getByRole('button', { name: 'Create', exact: true }).click();
  assert.match(await flash(admin), /identity provider created/);
  // The edit form shows what was saved, and the SP addresses to give the IdP.
  await admin.getByText('Edit or delete pysaml').click();
  assert.equal(await admin.getByLabel('Role of JIT members of pysaml').inputValue(), 'team_contributor');
  assert.equal(await admin.getByLabel('Groups attribute of pysaml').inputValue(), 'memberOf');
  assert.match(await admin.getByLabel(/Group to team mapping of pysaml/).inputValue(), /ml-engineers = vision/);
  assert.equal(await admin.getByLabel('Clock skew of pysaml (seconds)').inputValue(), '90');
  assert.ok(await admin.getByLabel(/JIT provisioning of pysaml/).isChecked());
  assert.ok(!(await admin.getByLabel(/Allow IdP-initiated login for pysaml/).isChecked()));
  const row = admin.getByRole('row', { name: /pysaml2/ });
  assert.match(await row.textContent(), new RegExp(`ACS URL ${BASE}/saml/acme/pysaml/acs`));

  const context = await browser.newContext({ viewport: VIEWPORT });
  const dave = await context.newPage();
  dave.setDefaultTimeout(10000);
  try {
    await dave.goto(`${BASE}/sign-in?org=acme`);
    await dave.getByRole('link', { name: 'Sign in with pysaml2' }).click();
    await dave.waitForURL((url) => url.href.startsWith(`${IDP}/sso/redirect`));
    await dave.locator('input[name="username"]').fill('dave');
    await dave.locator('input[name="password"]').fill('dave-secret');
    await dave.getByRole('button', { name: 'Sign in' }).click();
    // The IdP's page posts the response to the ACS, which answers 303 to the org's home.
    await dave.waitForURL(`${BASE}/a/acme/apps`);
    assert.match(await dave.locator('main').textContent(), /vision|faces|apps/i);
    const cookies = await context.cookies(BASE);
    const session = cookies.find((c) => c.name === '__Host-portcullis');
    assert.ok(session, 'the console session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.expires, -1, 'ends with the browser, as a sign-in without "remember me"');
    // No page of the flow showed the token.
    assert.ok(!(await dave.content()).includes(session.value));
    // The JIT member is in the org, in the mapped team, with the chosen role.
    await admin.goto(`${BASE}/a/acme/members`);
    assert.match(await admin.getByRole('row', { name: /dave/ }).first().textContent(), /Team Contributor/);
  } finally {
    await context.close();
  }
});

// An existing account is never attached to an IdP identity by its email: its owner links it,
// signed in by her own password, through the real IdP, confirmed from her mailbox.
test('a person links an IdP to her own account from the Account page, confirms by mail, then signs in with it', { skip: !process.env.IDP_URL && 'no test IdP (IDP_URL)' }, async () => {
  const IDP = process.env.IDP_URL;
  const context = await browser.newContext({ viewport: VIEWPORT });
  const gwen = await context.newPage();
  gwen.setDefaultTimeout(10000);
  try {
    await signUp(gwen, 'gwen', 'gwen@corp.example');
    await verifyByMail(gwen, 'gwen@corp.example');
    await gwen.goto(`${BASE}/account`);
    await gwen.getByLabel('Organization', { exact: true }).fill('acme');
    await gwen.getByLabel('Identity provider', { exact: true }).fill('pysaml');
    await gwen.getByRole('button', { name: 'Link an identity provider' }).click();
    await gwen.getByRole('link', { name: 'Continue to the identity provider' }).click();
    await gwen.waitForURL((url) => url.href.startsWith(`${IDP}/sso/redirect`));
    await gwen.locator('input[name="username"]').fill('gwen');
    await gwen.locator('input[name="password"]').fill('gwen-secret');
    await gwen.getByRole('button', { name: 'Sign in' }).click();
    // Back on the account page: nothing is linked until the mailed link is followed.
    await gwen.waitForURL(`${BASE}/account`);
    assert.match(await flash(gwen), /check your mail/);
    assert.equal(await gwen.locator('#links').count(), 0);
    const confirm = await mailedLink('gwen@corp.example', /Confirm linking an identity provider/, '/link-identity');
    await gwen.goto(`${BASE}${confirm}`);
    await gwen.getByRole('button', { name: 'Link the identity provider' }).click();
    assert.match(await gwen.locator('main').textContent(), /pysaml now signs in your account gwen \(to acme only\)/);
    await gwen.goto(`${BASE}/account`);
    assert.match(await gwen.locator('#links').textContent(), /acme\s*pysaml\s*gwen@corp\.example\s*by you/);

    // Signed out, "Sign in with pysaml2" now signs gwen in, to acme.
    await gwen.locator('.menu summary').click();
    await gwen.getByRole('button', { name: 'Sign out' }).click();
    await gwen.waitForURL(`${BASE}/sign-in`);
    await gwen.goto(`${BASE}/sign-in?org=acme`);
    await gwen.getByRole('link', { name: 'Sign in with pysaml2' }).click();
    await gwen.waitForURL((url) => url.href.startsWith(`${IDP}/sso/redirect`));
    await gwen.locator('input[name="username"]').fill('gwen');
    await gwen.locator('input[name="password"]').fill('gwen-secret');
    await gwen.getByRole('button', { name: 'Sign in' }).click();
    await gwen.waitForURL(`${BASE}/a/acme/apps`);
    assert.match(await gwen.locator('.menu summary').textContent(), /Gwen/);
  } finally {
    await context.close();
  }
});

test('the admin sets and clears the budget; a member without billing.manage is refused', async () => {
  await admin.goto(`${BASE}/a/acme/billing`);
  await admin.getByLabel('Monthly budget').fill('1000');
  await admin.getByLabel('Currency').fill('usd');
  await admin.getByLabel('Alert at (% spent)').fill('75');
  await admin.getByRole('button', { name: 'Save budget' }).click();
  assert.match(await flash(admin), /budget saved/);
  assert.match(await admin.locator('main').textContent(), /spent 0\.00 USD of 1000\.00 USD/);
  await shot(admin, 'costs');

  // The Team Contributor has no Set button, and its own post (with its CSRF token) is refused.
  await bob.goto(`${BASE}/account`);
  const refused = await bob.request.post(`${BASE}/a/acme/billing/budget/clear`, { form: { csrf: await csrfOf(bob) } });
  assert.equal(refused.status(), 403);
  await admin.goto(`${BASE}/a/acme/billing`);
  assert.match(await admin.locator('main').textContent(), /of 1000\.00 USD/);

  await admin.getByRole('button', { name: 'Clear budget' }).click();
  assert.match(await flash(admin), /budget cleared/);
  assert.match(await admin.locator('main').textContent(), /No budget set/);
});

test('the admin creates, edits and deletes clusters, nodepools and deployments', async () => {
  await admin.goto(`${BASE}/a/acme/compute`);
  await admin.locator('summary', { hasText: 'Create cluster' }).click();
  await admin.getByLabel('Cluster id').fill('gpu');
  await admin.getByLabel('Cloud provider').fill('aws');
  await admin.getByLabel('Region').fill('us-east-1');
  await admin.getByLabel('Cluster type').fill('eks');
  await admin.getByRole('button', { name: 'Create cluster' }).click();
  assert.match(await flash(admin), /cluster gpu created/);

  await admin.getByText('Add a nodepool to gpu').click();
  await admin.getByLabel('Nodepool id').fill('a100');
  await admin.getByLabel('Instance types (comma-separated)').fill('p4d.24xlarge, p4de.24xlarge');
  await admin.getByLabel('Maximum instances', { exact: true }).fill('2');
  await admin.getByRole('button', { name: 'Create nodepool' }).click();
  assert.match(await flash(admin), /nodepool gpu\/a100 created/);
  await admin.getByText('Edit nodepool a100').click();
  await admin.getByLabel('Maximum instances of a100').fill('4');
  await admin.getByRole('button', { name: 'Save nodepool a100' }).click();
  assert.match(await flash(admin), /nodepool gpu\/a100 saved/);
  assert.match(await admin.getByRole('row', { name: /p4d\.24xlarge/ }).textContent(), /0–4/);

  // A model to deploy, created through the API with the browser's own session.
  const token = (await admin.context().cookies()).find((c) => c.name === '__Host-portcullis').value;
  const model = await admin.request.post(`${BASE}/v1/accounts/acme/apps/faces/models`, {
    headers: { authorization: `Bearer ${token}` },
    data: { id: 'detector' },
  });
  assert.equal(model.status(), 201, await model.text());
  await admin.locator('summary', { hasText: 'Create deployment' }).click();
  await admin.getByLabel('Deployment id').fill('detect');
  await admin.getByLabel(/^Model/).fill('faces/detector');
  await admin.getByLabel(/^Nodepools \(one/).fill('gpu/a100:1');
  await admin.getByRole('button', { name: 'Create deployment' }).click();
  assert.match(await flash(admin), /deployment detect created/);
  await admin.getByText('Edit deployment detect').click();
  await admin.getByLabel('Maximum replicas of detect').fill('3');
  await admin.getByRole('button', { name: 'Save deployment detect' }).click();
  assert.match(await flash(admin), /deployment detect saved/);
  assert.match(await admin.getByRole('row', { name: /faces\/detector/ }).textContent(), /1–3/);
  await shot(admin, 'compute');

  // The member without compute.manage cannot create a cluster, even by posting the form.
  await bob.goto(`${BASE}/account`);
  const refused = await bob.request.post(`${BASE}/a/acme/compute/clusters`, {
    form: { csrf: await csrfOf(bob), id: 'rogue', cloud_provider: 'aws', region: 'x', cluster_type: 'eks' },
  });
  assert.equal(refused.status(), 403);

  // A cluster whose nodepool runs a deployment cannot go; each delete needs the id typed.
  await admin.goto(`${BASE}/a/acme/compute`);
  assert.equal(await admin.getByRole('heading', { name: /rogue/ }).count(), 0);
  await admin.getByText('Edit or delete cluster gpu').click();
  await admin.getByLabel('Type gpu to delete the cluster').fill('gpu');
  await admin.getByRole('button', { name: 'Delete cluster gpu' }).click();
  assert.match(await flash(admin), /used by deployments .detect./);
  await admin.getByText('Edit deployment detect').click();
  await admin.getByLabel('Type detect to delete the deployment').fill('nope');
  await admin.getByRole('button', { name: 'Delete deployment detect' }).click();
  assert.match(await flash(admin), /type its id `detect`/);
  await admin.getByText('Edit deployment detect').click();
  await admin.getByLabel('Type detect to delete the deployment').fill('detect');
  await admin.getByRole('button', { name: 'Delete deployment detect' }).click();
  assert.match(await flash(admin), /deployment detect deleted/);
  await admin.getByText('Edit nodepool a100').click();
  await admin.getByLabel('Type a100 to delete the nodepool').fill('a100');
  await admin.getByRole('button', { name: 'Delete nodepool a100' }).click();
  assert.match(await flash(admin), /nodepool gpu\/a100 deleted/);
  await admin.getByText('Edit or delete cluster gpu').click();
  await admin.getByLabel('Type gpu to delete the cluster').fill('gpu');
  await admin.getByRole('button', { name: 'Delete cluster gpu' }).click();
  assert.match(await flash(admin), /cluster gpu deleted/);
  assert.match(await admin.locator('main').textContent(), /No clusters/);
});

test('the admin adds a collaborator, changes its permissions and removes it', async () => {
  await admin.goto(`${BASE}/a/acme/apps/payroll`);
  await admin.locator('summary', { hasText: 'Add collaborator' }).click();
  await admin.getByLabel('User id').fill('bob');
  await admin.getByRole('button', { name: 'Add collaborator' }).click();
  assert.match(await flash(admin), /collaborator bob saved/);
  assert.match(await admin.getByRole('row', { name: /^bob/ }).textContent(), /app\.view/);
  // The collaborator now reaches the app it could not open before.
  const reached = await bob.goto(`${BASE}/a/acme/apps/payroll`);
  assert.equal(reached.status(), 200, await bob.locator('main').textContent());

  await admin.getByText('Change permissions of bob').click();
  await admin.locator('form:has(input[name="user"][value="bob"]) input[value="collaborators.view"]').check();
  await admin.getByRole('button', { name: 'Save permissions of bob' }).click();
  assert.match(await flash(admin), /collaborator bob saved/);
  assert.match(await admin.getByRole('row', { name: /^bob/ }).textContent(), /collaborators\.view/);
  await shot(admin, 'collaborators');

  await admin.getByText('Change permissions of bob').click();
  await admin.getByRole('button', { name: 'Remove collaborator bob' }).click();
  assert.match(await flash(admin), /collaborator bob removed/);
  assert.equal((await bob.goto(`${BASE}/a/acme/apps/payroll`)).status(), 404);
  await bob.goto(`${BASE}/a/acme/apps`);
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

// ---- Two-factor, forced password change, lockout and "remember me", each with a fresh user ----

/** A new browser context of its own (its own cookies) for one more person. */
async function personPage() {
  const page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
  page.setDefaultTimeout(5000);
  page.on('request', (request) => {
    assert.ok(request.url().startsWith(BASE), `external request to ${request.url()}`);
  });
  return page;
}

async function signIn(page, email, password, { remember = false } = {}) {
  await page.goto(`${BASE}/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  if (remember) await page.getByLabel(/Remember me/).check();
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function signOut(page) {
  await page.locator('.menu summary').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/sign-in`);
}

/** RFC 4648 base32 (what the setup page shows) to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    value = ((value << 5) | alphabet.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) of time step `step`. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/**
 * An authenticator app: each code it hands out is of a later time step than the last (the
 * server takes each step once) and within the ±1 step the server accepts.
 */
function authenticator(secret) {
  let last = -Infinity;
  const nowStep = () => Math.floor(Date.now() / 30_000);
  return {
    async next() {
      for (;;) {
        const now = nowStep();
        // The previous step is accepted only until the next boundary: not late in a step.
        const late = Date.now() % 30_000 > 25_000;
        const step = Math.max(last + 1, late ? now : now - 1);
        if (step <= now + 1) {
          last = step;
          return totp(secret, step);
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    },
    /** A code that no step near now shows. */
    wrong() {
      const now = nowStep();
      const near = [-2, -1, 0, 1, 2].map((d) => totp(secret, now + d));
      return ['000000', '111111', '222222', '333333', '444444', '555555'].find((c) => !near.includes(c));
    },
  };
}

test('a user turns two-factor on from the Account page, signs in with codes, then turns it off', async () => {
  const page = await personPage();
  await signUp(page, 'dana', 'dana@example.com');
  await page.goto(`${BASE}/account`);
  const section = page.locator('section[aria-labelledby="two-factor-h"]');
  assert.match(await section.textContent(), /Off/);
  await page.getByRole('button', { name: 'Set up two-factor' }).click();
  await page.getByRole('heading', { level: 1, name: 'Set up two-factor authentication' }).waitFor();
  assert.ok(await page.getByRole('img', { name: 'QR code of the otpauth URI' }).isVisible());
  const secret = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.ok((await page.locator('#totp-uri').textContent()).startsWith(`otpauth://totp/Portcullis:dana?secret=${secret}&`));
  await shot(page, 'two-factor-setup');

  const app = authenticator(secret);
  await page.getByLabel('Six-digit code from the app').fill(app.wrong());
  await page.getByRole('button', { name: 'Turn on two-factor' }).click();
  assert.match(await page.locator('#code-error').textContent(), /the code is not valid/);
  assert.equal(await page.getByLabel('Six-digit code from the app').getAttribute('aria-invalid'), 'true');
  await page.getByLabel('Six-digit code from the app').fill(await app.next());
  await page.getByRole('button', { name: 'Turn on two-factor' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes now' }).waitFor();
  assert.match(await page.locator('main').textContent(), /Store these codes now/);
  const codes = await page.locator('.codes code').allTextContents();
  assert.equal(codes.length, 10);
  await page.getByRole('link', { name: /back to my account/ }).click();
  assert.match(await section.textContent(), /On:.*10 of 10 recovery codes left/s);

  // Sign in again: the password, then the two-factor step; a wrong code is refused.
  await signOut(page);
  await signIn(page, 'dana@example.com', PASSWORD);
  await page.waitForURL(`${BASE}/sign-in/two-factor`);
  await page.getByLabel('Authentication code').fill(app.wrong());
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${BASE}/sign-in/two-factor`);
  assert.match(await flash(page), /code was not accepted/);
  await page.getByLabel('Authentication code').fill(await app.next());
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${BASE}/a/dana/apps`);

  // A recovery code works once; its second use is refused, another one still works.
  await signOut(page);
  await signIn(page, 'dana@example.com', PASSWORD);
  await page.getByLabel('Or a recovery code').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${BASE}/a/dana/apps`);
  await signOut(page);
  await signIn(page, 'dana@example.com', PASSWORD);
  await page.getByLabel('Or a recovery code').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${BASE}/sign-in/two-factor`);
  assert.match(await flash(page), /code was not accepted/);
  await page.getByLabel('Or a recovery code').fill(codes[1]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${BASE}/a/dana/apps`);

  // Off again: a wrong code is refused, a current one turns it off; sign-in is one step again.
  await page.goto(`${BASE}/account`);
  assert.match(await section.textContent(), /8 of 10 recovery codes left/);
  await page.getByLabel('Current code from your authenticator app').fill(app.wrong());
  await page.getByRole('button', { name: 'Turn off two-factor' }).click();
  assert.match(await flash(page), /the code is not valid/);
  await page.getByLabel('Current code from your authenticator app').fill(await app.next());
  await page.getByRole('button', { name: 'Turn off two-factor' }).click();
  assert.match(await flash(page), /two-factor authentication is off/);
  assert.match(await section.textContent(), /Off/);
  await signOut(page);
  await signIn(page, 'dana@example.com', PASSWORD);
  await page.waitForURL(`${BASE}/a/dana/apps`);
  await page.context().close();
});

// A password that the server-wide default accepts (8+) but acme's `nist` policy (15+) does not.
const SHORT_PASSWORD = 'Tr0ub4dor&3x-9';

test('a member whose password breaks the organization policy must change it at sign-in', async () => {
  const page = await personPage();
  await page.goto(`${BASE}/sign-up`);
  await page.getByLabel('User id').fill('erin');
  await page.getByLabel('Email').fill('erin@example.com');
  await page.getByLabel('Password').fill(SHORT_PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${BASE}/a/erin/apps`);
  await verifyByMail(page, 'erin@example.com');
  await admin.goto(`${BASE}/a/acme/members`);
  await admin.getByLabel('Email').fill('erin@example.com');
  await admin.getByLabel('Role', { exact: true }).selectOption('org_user');
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  assert.match(await flash(admin), /invitation sent to erin@example.com/);
  await page.goto(`${BASE}/account`);
  await page.getByRole('button', { name: 'Accept' }).click();
  assert.match(await flash(page), /invitation accepted/);

  // Now acme's policy applies: the next sign-in stops at the forced change.
  await signOut(page);
  await signIn(page, 'erin@example.com', SHORT_PASSWORD);
  await page.waitForURL(`${BASE}/sign-in/password`);
  assert.match(await page.locator('main').textContent(), /must be changed/);
  await page.getByLabel('Current password').fill(SHORT_PASSWORD);
  await page.getByLabel('New password').fill('still-14-chars');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForURL(`${BASE}/sign-in/password`);
  assert.match(await flash(page), /breaks the password policy: .*minimum_length/);
  const next = 'quiet-lantern-orbit-maple-river-5';
  await page.getByLabel('Current password').fill(SHORT_PASSWORD);
  await page.getByLabel('New password').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForURL(`${BASE}/sign-in`);
  assert.match(await flash(page), /password changed/);
  await signIn(page, 'erin@example.com', SHORT_PASSWORD);
  await page.waitForURL(`${BASE}/sign-in`);
  assert.match(await flash(page), /invalid email or password/);
  await signIn(page, 'erin@example.com', next);
  await page.waitForURL(`${BASE}/a/acme/apps`);
  await page.context().close();
});

const ERIN_PASSWORD = 'quiet-lantern-orbit-maple-river-5';

/** Every cell of `row` is a table cell spanning the row's full height (borders line up). */
async function assertCellsAligned(row) {
  const cells = await row.locator('td, th').evaluateAll((all) =>
    all.map((cell) => {
      const box = cell.getBoundingClientRect();
      return { display: getComputedStyle(cell).display, top: box.top, bottom: box.bottom };
    }));
  assert.ok(cells.length > 1);
  for (const cell of cells) {
    assert.equal(cell.display, 'table-cell');
    assert.equal(cell.top, cells[0].top);
    assert.equal(cell.bottom, cells[0].bottom);
  }
}

test('a member locked out by failed sign-ins is shown as locked and the admin unlocks it', async () => {
  const page = await personPage();
  // acme's `nist` policy locks an account after 10 failures; guess through the API.
  for (let i = 0; i < 10; i += 1) {
    const refused = await page.request.post(`${BASE}/v1/login`, {
      data: { email: 'erin@example.com', password: `wrong-guess-${i}` },
    });
    assert.equal(refused.status(), 401);
  }
  // Locked: even the right password is refused, with the same answer as a wrong one.
  await signIn(page, 'erin@example.com', ERIN_PASSWORD);
  await page.waitForURL(`${BASE}/sign-in`);
  assert.match(await flash(page), /invalid email or password/);

  await admin.goto(`${BASE}/a/acme/members`);
  const row = admin.getByRole('row', { name: /^erin/ });
  assert.match(await row.textContent(), /Locked/);
  await assertCellsAligned(row);
  assert.match(await admin.getByRole('row', { name: /^bob/ }).textContent(), /Active/);
  assert.equal(await admin.getByRole('button', { name: 'Unlock bob' }).count(), 0);
  await shot(admin, 'members-locked');
  await admin.getByRole('button', { name: 'Unlock erin' }).click();
  assert.match(await flash(admin), /erin unlocked/);
  assert.match(await admin.getByRole('row', { name: /^erin/ }).textContent(), /Active/);

  await signIn(page, 'erin@example.com', ERIN_PASSWORD);
  await page.waitForURL(`${BASE}/a/acme/apps`);
  await page.context().close();
});

test('"remember me" makes the session cookie persistent; without it the cookie ends with the browser', async () => {
  for (const remember of [false, true]) {
    const page = await personPage();
    await signIn(page, 'erin@example.com', ERIN_PASSWORD, { remember });
    await page.waitForURL(`${BASE}/a/acme/apps`);
    const session = (await page.context().cookies()).find((c) => c.name === '__Host-portcullis');
    if (remember) {
      assert.ok(session.expires > Date.now() / 1000 + 7 * 86400, `persistent: ${session.expires}`);
    } else {
      assert.equal(session.expires, -1, 'a browser-session cookie has no expiry');
    }
    await page.context().close();
  }
});

/** The session cookie's expiry: -1 for a browser-session cookie. */
async function sessionExpiry(page) {
  return (await page.context().cookies()).find((c) => c.name === '__Host-portcullis').expires;
}

function assertPersistent(expires) {
  assert.ok(expires > Date.now() / 1000 + 7 * 86400, `persistent: ${expires}`);
}

test('a member of an organization that requires two-factor enrols while signing in; "remember me" survives every step', async () => {
  // frank creates `vault` and invites gina, who has no two-factor.
  const frank = await personPage();
  await signUp(frank, 'frank', 'frank@example.com');
  await frank.goto(`${BASE}/account`);
  await frank.getByLabel('Organization id').fill('vault');
  await frank.getByLabel('Name', { exact: true }).fill('Vault');
  await frank.getByRole('button', { name: 'Create organization' }).click();
  await frank.waitForURL(`${BASE}/a/vault/apps`);
  await frank.goto(`${BASE}/a/vault/members`);
  await frank.getByLabel('Email').fill('gina@example.com');
  await frank.getByLabel('Role', { exact: true }).selectOption('org_user');
  await frank.getByRole('button', { name: 'Send invitation' }).click();
  const gina = await personPage();
  await signUp(gina, 'gina', 'gina@example.com');
  await verifyByMail(gina, 'gina@example.com');
  await gina.goto(`${BASE}/account`);
  await assertCellsAligned(gina.locator('tr', { has: gina.getByRole('button', { name: 'Accept' }) }));
  await gina.getByRole('button', { name: 'Accept' }).click();
  assert.match(await flash(gina), /invitation accepted/);
  await signOut(gina);

  // frank turns two-factor on for himself first: the requirement applies at once to every
  // member without it, administrators included.
  await frank.goto(`${BASE}/account`);
  await frank.getByRole('button', { name: 'Set up two-factor' }).click();
  await frank.getByRole('heading', { level: 1, name: 'Set up two-factor authentication' }).waitFor();
  const frankSecret = (await frank.locator('#totp-secret').textContent()).replace(/\s/g, '');
  await frank.getByLabel('Six-digit code from the app').fill(await authenticator(frankSecret).next());
  await frank.getByRole('button', { name: 'Turn on two-factor' }).click();
  await frank.getByRole('heading', { name: 'Save your recovery codes now' }).waitFor();

  // frank requires two-factor of vault's members on the Security page.
  await frank.goto(`${BASE}/a/vault/security`);
  const tfa = frank.locator('section[aria-labelledby="tfa-h"]');
  assert.match(await tfa.textContent(), /is not required/);
  await frank.getByLabel('Require two-factor authentication of every member').check();
  await frank.getByRole('button', { name: 'Save two-factor requirement' }).click();
  assert.match(await flash(frank), /two-factor authentication required of every member/);
  assert.match(await tfa.textContent(), /is required/);
  assert.ok(await frank.getByLabel('Require two-factor authentication of every member').isChecked());
  await frank.context().close();

  // gina signs in with "remember me": the password, then the setup, before any session.
  await signIn(gina, 'gina@example.com', PASSWORD, { remember: true });
  await gina.waitForURL(`${BASE}/sign-in/two-factor/setup`);
  assert.match(await gina.locator('main').textContent(), /requires two-factor authentication/);
  assert.equal((await gina.context().cookies()).find((c) => c.name === '__Host-portcullis'), undefined);
  await gina.getByRole('button', { name: 'Set up two-factor' }).click();
  await gina.getByRole('heading', { level: 1, name: 'Set up two-factor authentication' }).waitFor();
  assert.ok(await gina.getByRole('img', { name: 'QR code of the otpauth URI' }).isVisible());
  const secret = (await gina.locator('#totp-secret').textContent()).replace(/\s/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.ok((await gina.locator('#totp-uri').textContent()).startsWith(`otpauth://totp/Portcullis:gina?secret=${secret}&`));
  await shot(gina, 'sign-in-two-factor-setup');
  const app = authenticator(secret);
  await gina.getByLabel('Six-digit code from the app').fill(app.wrong());
  await gina.getByRole('button', { name: 'Turn on two-factor' }).click();
  assert.match(await gina.locator('#code-error').textContent(), /the code is not valid/);
  assert.equal(await gina.locator('#totp-secret').count(), 0, 'the secret is not shown again');
  assert.equal((await gina.context().cookies()).find((c) => c.name === '__Host-portcullis'), undefined);
  await gina.getByLabel('Six-digit code from the app').fill(await app.next());
  await gina.getByRole('button', { name: 'Turn on two-factor' }).click();
  await gina.getByRole('heading', { name: 'Save your recovery codes now' }).waitFor();
  const codes = await gina.locator('.codes code').allTextContents();
  assert.equal(codes.length, 10);
  assertPersistent(await sessionExpiry(gina));
  await gina.getByRole('link', { name: /continue to Portcullis/ }).click();
  await gina.waitForURL(`${BASE}/a/vault/apps`);

  // The next sign-ins ask for a code; "remember me" decides the cookie after the second step.
  for (const remember of [false, true]) {
    await signOut(gina);
    await signIn(gina, 'gina@example.com', PASSWORD, { remember });
    await gina.waitForURL(`${BASE}/sign-in/two-factor`);
    await gina.getByLabel('Authentication code').fill(await app.next());
    await gina.getByRole('button', { name: 'Verify' }).click();
    await gina.waitForURL(`${BASE}/a/vault/apps`);
    if (remember) {
      assertPersistent(await sessionExpiry(gina));
    } else {
      assert.equal(await sessionExpiry(gina), -1, 'a browser-session cookie has no expiry');
    }
  }
  await gina.context().close();
});
