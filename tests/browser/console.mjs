// Browser tests of the UserSync console in headless Chromium, driven by playwright-core.
// Run by tests/tests/e2e/browser.rs, which starts UserSync (with the Confluence emulator),
// creates the accounts and passes:
//   USERSYNC_URL, ADMIN_PASSWORD, VIEWER_PASSWORD, CHROMIUM, SCREENSHOTS (a folder, or empty)
//   LDAP_URL, LDAP_BIND_DN, LDAP_PASSWORD: a slapd with people under ou=people and groups
//   under ou=groups of dc=example,dc=com (empty: the directory screens are left out)
// Exits non-zero with the failing step on stderr.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";

const url = process.env.USERSYNC_URL;
const shots = process.env.SCREENSHOTS || "";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

// Reloads `page` until `text` shows (a background run ending), for up to a minute.
async function reloadUntil(page, text) {
  const deadline = Date.now() + 60_000;
  while (!(await page.content()).includes(text)) {
    assert.ok(Date.now() < deadline, `timed out waiting for "${text}" on ${page.url()}`);
    await new Promise((r) => setTimeout(r, 300));
    await page.reload();
  }
}

async function login(context, username, password) {
  const page = await context.newPage();
  await page.goto(`${url}/console/`);
  assert.match(page.url(), /\/console\/login/, "an anonymous visit lands on the login page");
  await page.getByLabel("Account").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${url}/console/`);
  return page;
}

let step = "start";
try {
  // --- an administrator ---
  step = "log in";
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });
  const page = await login(context, "root", process.env.ADMIN_PASSWORD);
  await page.getByRole("heading", { name: "Configured apps" }).waitFor();
  await shot(page, "apps");

  step = "open the OneLogin app, create a token, copy the URL and the token";
  await page.getByRole("link", { name: "onelogin", exact: true }).click();
  await page.getByText("SCIM Bearer Token").first().waitFor();
  await page.getByLabel("Label").fill("OneLogin production");
  await page.getByLabel("Your password (again, to show a secret)").fill(process.env.ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Create token" }).click();
  await page.locator("#new-token").waitFor();
  await shot(page, "app-scim");
  await page.locator("[data-copy=scim-url]").click();
  const baseUrl = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(baseUrl, `${url}/scim/v2/onelogin`);
  await page.locator("[data-copy=new-token]").click();
  const token = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(token, /^ust_[A-Za-z0-9_-]{43}$/);

  step = "POST a user with the copied URL and token";
  const created = await fetch(`${baseUrl}/Users`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
    body: JSON.stringify({
      schemas: [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
      ],
      userName: "grace@example.com",
      name: { givenName: "Grace", familyName: "Hopper" },
      emails: [{ value: "grace@example.com", primary: true }],
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "Compilers" },
      active: true,
    }),
  });
  assert.equal(created.status, 201, await created.text());

  step = "find the person and see the custom fields";
  await page.getByRole("link", { name: "People", exact: true }).first().click();
  await page.getByLabel("Name, e-mail, username or SCIM id").fill("hopper");
  // htmx replaces the results as the query is typed.
  await page.getByRole("link", { name: "grace@example.com" }).waitFor();
  await shot(page, "people");
  await page.getByRole("link", { name: "grace@example.com" }).click();
  await page.getByRole("heading", { name: "Custom profile fields" }).waitFor();
  assert.ok(await page.getByRole("cell", { name: "Compilers" }).isVisible());
  await shot(page, "person");

  step = "the rules tab, the outbox and the audit log";
  await page.goto(`${url}/console/apps/onelogin/rules`);
  await page.getByRole("heading", { name: "Declared settings" }).waitFor();
  await shot(page, "app-rules");

  step = "upload a broken module: the error is shown and the old module keeps serving";
  const servingBefore = await page.locator("dl.facts dd code").nth(1).textContent();
  await page.getByLabel(/Module file/).setInputFiles({
    name: "broken.wasm",
    mimeType: "application/wasm",
    buffer: Buffer.from("\0asm\x01\0\0\0 this is not a component", "binary"),
  });
  await page.getByRole("button", { name: "Check and review" }).click();
  await page.getByText("The serving module is unchanged").waitFor();
  assert.match(await page.getByRole("alert").textContent(), /was not installed/);
  assert.equal(await page.locator("dl.facts dd code").nth(1).textContent(), servingBefore);
  await shot(page, "app-rules-upload-refused");

  step = "try the rules on a pasted person";
  await page.getByLabel("… or a SCIM user as JSON").fill(
    JSON.stringify({ userName: "lin@example.com", name: { givenName: "Lin", familyName: "Wu" }, emails: [{ value: "lin@example.com" }] }),
  );
  await page.getByRole("button", { name: "Decide" }).click();
  await page.getByText("Lin Wu").waitFor();
  await shot(page, "app-rules-try");
  await page.goto(`${url}/console/apps/onelogin/outbox`);
  await page.getByRole("heading", { name: "Held for approval" }).waitFor();
  await shot(page, "app-outbox");
  await page.goto(`${url}/console/audit`);
  assert.ok(await page.getByText("created token").first().isVisible());
  await shot(page, "audit");

  step = "the Confluence page: Test connection";
  await page.getByRole("link", { name: "Confluence", exact: true }).click();
  await page.getByRole("button", { name: "Test connection" }).click();
  await page.getByText("Connected to Confluence").waitFor();
  await shot(page, "confluence");

  step = "Synchronize: the dry run, then the run";
  await page.goto(`${url}/console/apps/onelogin/sync`);
  await page.getByRole("button", { name: "Dry run: show the plan" }).click();
  await page.getByRole("heading", { name: /Plan \(dry run/ }).waitFor();
  await shot(page, "app-sync-plan");
  await page.getByRole("button", { name: "Synchronize now" }).click();
  await page.getByRole("heading", { name: "Result" }).waitFor();
  await shot(page, "app-sync-result");

  step = "Add new app: OneLogin, named, the standard module copied; copy the URL and token, POST a user";
  await page.goto(`${url}/console/`);
  await page.getByRole("link", { name: "Add new app" }).click();
  await page.getByText("OneLogin", { exact: true }).click();
  await page.getByLabel("Name", { exact: true }).fill("onelogin-eu");
  await page.getByLabel("Rules module").selectOption("onelogin");
  await page.getByLabel("Label of its first token").fill("OneLogin EU");
  await page.getByLabel("Your password (again: the next page shows a secret)").fill(process.env.ADMIN_PASSWORD);
  await shot(page, "app-new");
  await page.getByRole("button", { name: "Create the app" }).click();
  await page.getByRole("heading", { name: "App onelogin-eu is ready" }).waitFor();
  await page.getByText("SCIM Bearer Token").first().waitFor();
  await shot(page, "app-new-ready");
  await page.locator("[data-copy=scim-url]").click();
  const euUrl = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(euUrl, `${url}/scim/v2/onelogin-eu`);
  await page.locator("[data-copy=new-token]").click();
  const euToken = await page.evaluate(() => navigator.clipboard.readText());
  const scim = (method, path, body) =>
    fetch(`${euUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${euToken}`, "content-type": "application/scim+json" },
      body: body && JSON.stringify(body),
    });
  const kim = await scim("POST", "/Users", {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
    userName: "kim@example.com",
    name: { givenName: "Kim", familyName: "Lee" },
    emails: [{ value: "kim@example.com", primary: true }],
    active: true,
  });
  assert.equal(kim.status, 201, "the new app takes a user at once with the copied URL and token");
  const kimId = (await kim.json()).id;

  step = "User and group sync: map a group from the form, review the dry run, save";
  await page.getByRole("link", { name: "User and group sync settings" }).click();
  await page.getByRole("group", { name: "Group sync" }).waitFor();
  await shot(page, "app-settings");
  await page.locator("#s-group_mapping").fill("Engineering = eng-team");
  await page.getByRole("button", { name: "Review the change" }).click();
  await page.getByRole("heading", { name: "Review the change" }).waitFor();
  assert.ok(await page.getByText("settings.group_mapping").isVisible());
  await shot(page, "app-settings-review");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/settings\?saved=1$/);
  assert.match(await page.locator("#s-group_mapping").inputValue(), /Engineering = eng-team/);

  step = "the next SCIM change follows the mapping";
  const group = await scim("POST", "/Groups", {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    displayName: "Engineering",
    members: [{ value: kimId }],
  });
  assert.equal(group.status, 201);
  await page.goto(`${url}/console/apps/onelogin-eu/people/${kimId}`);
  await page.getByText("eng-team").first().waitFor();

  step = "Group sync: preview what an IdP group becomes, with the form's settings";
  await page.goto(`${url}/console/apps/onelogin-eu/settings`);
  await page.locator("#s-group_mapping").fill("Engineering = eng-team\nSales = sales-team");
  await page.getByLabel("Preview: what does an IdP group become?").fill("Sales");
  await page.getByRole("button", { name: "Preview with these settings" }).click();
  await page.getByText("gets:").waitFor();
  assert.match(await page.locator("#preview").textContent(), /sales-team/);
  await page.locator("#preview").scrollIntoViewIfNeeded();
  await shot(page, "app-settings-preview");

  if (process.env.LDAP_URL) {
    const people = "ou=people,dc=example,dc=com";
    step = "Add new app: LDAP / Active Directory, its connection and search";
    await page.goto(`${url}/console/apps/new`);
    await page.getByText("LDAP / Active Directory", { exact: true }).click();
    await page.getByLabel("Name", { exact: true }).fill("corp-ldap");
    await page.getByLabel("Rules module").selectOption("onelogin");
    assert.equal(await page.getByLabel("Label of its first token").isVisible(), false, "no SCIM token for a directory");
    await page.getByLabel("Server type").selectOption("active_directory");
    assert.equal(await page.getByLabel("Username attribute").getAttribute("placeholder"), "sAMAccountName");
    await page.getByLabel("Server type").selectOption("openldap");
    assert.equal(await page.getByLabel("Username attribute").getAttribute("placeholder"), "uid");
    await page.getByLabel("Server URLs").fill(process.env.LDAP_URL);
    await page.getByLabel("Bind DN").fill(process.env.LDAP_BIND_DN);
    await page.getByLabel("Bind password").fill(process.env.LDAP_PASSWORD);
    await page.getByLabel("User base DN").fill(people);
    await page.getByLabel("Group base DN").fill("ou=groups,dc=example,dc=com");
    await shot(page, "app-new-ldap");
    await page.getByRole("button", { name: "Create the app" }).click();
    await page.getByRole("heading", { name: "Test Sync" }).waitFor();
    assert.match(page.url(), /\/console\/apps\/corp-ldap\?done=created$/);
    assert.ok(await page.getByText("a password is stored").isVisible());
    await reloadUntil(page, "succeeded");

    step = "User and group sync of the directory app: groups on the fly";
    await page.getByRole("link", { name: "User and group sync" }).click();
    await page.locator("#s-on_the_fly").selectOption("on");
    await page.getByRole("button", { name: "Review the change" }).click();
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/\/settings\?saved=1$/);

    step = "Test connection, then Test Sync of one person";
    await page.goto(`${url}/console/apps/corp-ldap`);
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.getByText("Connected to").waitFor();
    await page.getByLabel("Username", { exact: true }).fill("ada");
    await page.getByRole("button", { name: "Search user" }).click();
    await page.getByRole("heading", { name: "What the rules decide" }).waitFor();
    assert.ok(await page.getByRole("cell", { name: "cn=engineers,ou=groups,dc=example,dc=com", exact: true }).isVisible());
    await page.locator("#test-sync").scrollIntoViewIfNeeded();
    await shot(page, "app-directory-test-sync");

    step = "a run's report";
    await page.goto(`${url}/console/apps/corp-ldap`);
    await page.locator("#runs a").last().click();
    await page.getByRole("heading", { name: /^Added/ }).waitFor();
    await shot(page, "app-directory-run");

    step = "Directory settings: full syncs only, and a threshold of one deprovisioning";
    await page.goto(`${url}/console/apps/corp-ldap/directory/settings`);
    assert.ok(await page.getByText("A password is stored.").isVisible());
    assert.equal(await page.getByLabel("Bind password").inputValue(), "", "the password is never shown back");
    await shot(page, "app-directory-settings");
    await page.getByLabel("How changes are found between full syncs").selectOption("full");
    await page.getByLabel("Deletion threshold (percent)").fill("0");
    await page.getByLabel("Deletion threshold (people)").fill("1");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/\/directory\/settings\?saved=1$/);

    step = "two people leave the directory: the full sync waits for approval, then is approved";
    for (const uid of ["barbara", "katherine"]) {
      execFileSync("ldapdelete", ["-x", "-H", process.env.LDAP_URL, "-D", process.env.LDAP_BIND_DN,
        "-w", process.env.LDAP_PASSWORD, `uid=${uid},${people}`]);
    }
    await page.goto(`${url}/console/apps/corp-ldap`);
    await page.getByRole("button", { name: "Run a full sync now" }).click();
    await reloadUntil(page, "is waiting for your approval");
    await shot(page, "app-directory-approval");
    await page.getByRole("button", { name: "Approve and apply" }).first().click();
    await page.getByText(/is approved/).waitFor();
  }

  step = "a forged form post without the CSRF token is refused";
  const forged = await page.evaluate(async () => {
    const r = await fetch("/console/apps/onelogin/sync", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "mode=run",
    });
    return r.status;
  });
  assert.equal(forged, 403);

  // --- a viewer ---
  step = "a viewer cannot change anything";
  const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const viewer = await login(viewerContext, "watcher", process.env.VIEWER_PASSWORD);
  await viewer.goto(`${url}/console/apps/onelogin`);
  assert.equal(await viewer.getByRole("button", { name: "Create token" }).count(), 0);
  assert.equal(await viewer.getByRole("button", { name: "Revoke" }).count(), 0);
  await viewer.goto(`${url}/console/apps/onelogin/sync`);
  assert.equal(await viewer.getByRole("button", { name: "Synchronize now" }).count(), 0);
  const csrf = await viewer.locator("input[name=csrf]").first().inputValue();
  const refused = await viewer.evaluate(async (csrf) => {
    const r = await fetch("/console/apps/onelogin/sync", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `csrf=${encodeURIComponent(csrf)}&mode=run`,
    });
    return r.status;
  }, csrf);
  assert.equal(refused, 403);

  step = "the login page";
  const anonymous = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await anonymous.goto(`${url}/console/login`);
  await shot(anonymous, "login");
  console.log("console browser tests passed");
} catch (e) {
  console.error(`FAILED at step "${step}": ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
