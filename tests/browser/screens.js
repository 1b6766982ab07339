// What the web app's screen shows, one behaviour per scenario, in headless
// Chromium (the driver is lib.js): `node tests/browser/screens.js NAME`.
// Started by tests/check_browser.c, which runs drinkd; the environment is
// as lib.js says.  The world (check_browser.c's setup_screens):
//   alice/alicepw 100 credits, bob/bobpw 0, admin/adminpw;
//   m1 "Big Drink": slot 3 Cola 10 cr (5 left), slot 4 Water 5 cr (empty),
//     slot 5 Mate 8 cr switched off; its controller is started here;
//   m2 "Small Drink", switched off: slot 1 Juice 4 cr.
// Exit status 0 = pass.
"use strict";

const fs = require("fs");
const {
  Browser, log, sleep, startMachine, phone, fits, check, login, MACHINE, ONLINE,
} = require("./lib.js");

const STATUS = "#status";

async function loggedIn(browser, user, password) {
  const page = await browser.page(user);
  await phone(page, false);
  await (await login(page, user, password, false))();
  return page;
}

// Whether each of the money form's fields is as a fresh form has it.
async function moneyFormFresh(admin, who) {
  await admin.waitFor("!document.querySelector('#money-form').hidden", "the balance form for " + who);
  const f = await admin.eval("({ kind: document.querySelector('#money-kind').value," +
    " amount: document.querySelector('#money-amount').value," +
    " note: document.querySelector('#money-note').value," +
    " error: document.querySelector('#money-form .error').textContent," +
    " title: document.querySelector('#money-title').textContent })");
  check(f.title.startsWith("Balance of " + who), "the balance form is " + who + "'s (" + f.title + ")");
  check(f.kind === "credit" && f.amount === "" && f.note === "" && f.error === "",
    "the balance form for " + who + " opens empty, on Credit (" + JSON.stringify(f) + ")");
}

async function moneyApply(admin, who, kind, amount, note) {
  await admin.tap("#users tr[data-user=" + who + "] .actions button");
  await moneyFormFresh(admin, who);
  await admin.eval("(() => { const k = document.querySelector('#money-kind'); k.value = '" + kind + "';" +
    " k.dispatchEvent(new Event('change', { bubbles: true })); })()");
  await admin.typeInto("#money-amount", amount);
  check(await admin.value("#money-amount") === amount, "the amount typed reads " + amount);
  await admin.typeInto("#money-note", note);
  await admin.tap("#money-form button[type=submit]");
}

// A form's fields, by selector, as they read now.
function values(page, selectors) {
  return page.eval("(" + JSON.stringify(selectors) + ").map((s) => document.querySelector(s).value)");
}

// ---- scenarios --------------------------------------------------------------

const SCENARIOS = {};

// Every form opens empty: the balance form whoever it is for, a tab's
// forms when the tab is opened again, and a new user's screens after the
// last one logged out.  An action's typed values never carry over to the
// next one.
SCENARIOS["forms-open-empty"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users list");

  await moneyApply(admin, "alice", "credit", "25", "web test");
  await admin.waitFor("document.querySelector('#status').textContent === 'Balance of alice is now 125.'",
    "alice credited");
  check(await admin.eval("document.querySelector('#money-form').hidden"), "the form closes once applied");
  await moneyApply(admin, "bob", "debit", "500", "too much");
  await admin.waitFor("document.querySelector('#money-form .error').textContent", "the debit refused");
  await admin.shot("forms-bob-debit-refused");
  await admin.tap("#money-cancel");
  await admin.tap("#users tr[data-user=alice] .actions button");
  await moneyFormFresh(admin, "alice");
  await admin.typeInto("#money-amount", "3");

  // A tab opened again: its forms are empty and the balance form closed.
  const ADD = ["#useradd-user", "#useradd-password", "#useradd-role", "#useradd-balance"];
  await admin.typeInto("#useradd-user", "carol");
  await admin.typeInto("#useradd-password", "carolpw");
  await admin.eval("document.querySelector('#useradd-role').value = 'admin'");
  await admin.tap("#tabbtn-log");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users list again");
  check(await admin.eval("document.querySelector('#money-form').hidden"), "the balance form is closed on coming back");
  const add = await values(admin, ADD);
  check(JSON.stringify(add) === '["","","member","0"]', "Add a user is empty on coming back (" + add + ")");
  await admin.tap("#users tr[data-user=bob] .actions button");
  await moneyFormFresh(admin, "bob");

  await admin.tap("#tabbtn-account");
  await admin.typeInto("#passwd-old", "adminpw");
  await admin.typeInto("#passwd-new", "x");
  await admin.tap("#tabbtn-machines");
  await admin.tap("#tabbtn-account");
  const pw = await values(admin, ["#passwd-old", "#passwd-new", "#passwd-again"]);
  check(pw.every((v) => v === ""), "the password form is empty on coming back (" + pw + ")");

  // An unsaved edit in Set up is gone on coming back: the slot reads as saved.
  const PRICE3 = "#admin-machines input[aria-label='Price of slot 3']";
  await admin.tap("#tabbtn-admin-machines");
  await admin.waitFor("document.querySelector(\"" + PRICE3 + "\")", "the slot editor");
  await admin.type(PRICE3, "77");
  await admin.tap("#tabbtn-users");
  await admin.tap("#tabbtn-admin-machines");
  await admin.waitFor("document.querySelector(\"" + PRICE3 + "\")", "the slot editor again");
  check(await admin.value(PRICE3) === "10", "slot 3's price reads as saved on coming back");
  const NEWSLOT = "#admin-machines input[aria-label='New slot number']";
  await admin.typeInto(NEWSLOT, "7");
  await admin.tap("#admin-machines .row:last-child button");
  await admin.waitFor("document.querySelector('#status').textContent === 'Slot 7 added.'", "slot 7 added");
  await admin.waitFor("document.querySelector(\"#admin-machines input[aria-label='Price of slot 7']\")",
    "slot 7 in the slot editor");
  check(await admin.value(NEWSLOT) === "", "the new slot's number is cleared once added");

  // The next user of this browser finds nothing of the last one's.
  await admin.tap("#tabbtn-send");
  await admin.typeInto("#send-to", "bob");
  await admin.typeInto("#send-amount", "5");
  await admin.typeInto("#send-note", "for the admin's eyes");
  await admin.tap("#logout");
  await admin.waitFor("!document.querySelector('#login-view').hidden", "the login form");
  check(await admin.text(STATUS) === "", "no status line after logging out");
  await admin.type("#login-user", "alice");
  await admin.type("#login-password", "alicepw");
  await admin.tap("#login-submit");
  await admin.waitFor("document.querySelector('#user-name').textContent === 'alice'", "alice logged in");
  await admin.tap("#tabbtn-send");
  const send = await values(admin, ["#send-to", "#send-amount", "#send-note"]);
  check(send.every((v) => v === ""), "alice's Send form holds nothing the admin typed (" + send + ")");
};

// A Drop button that is off says why on screen, in its slot's row, within
// a phone's width: every reason, each where it applies.
SCENARIOS["drop-reasons"] = async (browser, ctl) => {
  const REASONS = "[...document.querySelectorAll('#machines button.drop')].map((b) => {" +
    " const why = (b.getAttribute('aria-label').match(/\\((.*)\\)$/) || [])[1] || '';" +
    " const li = b.closest('li'), w = document.documentElement.clientWidth;" +
    " const seen = [...li.querySelectorAll('*')].some((e) => e.children.length === 0 &&" +
    "   e.textContent.trim() === why && e.checkVisibility({ checkOpacity: true }) &&" +
    "   ((r) => r.width > 0 && r.left >= 0 && r.right <= w)(e.getBoundingClientRect()));" +
    " return { slot: b.closest('.machine').dataset.machine + '/' + b.dataset.slot," +
    "   off: b.disabled, why: why, seen: seen }; })";
  const expect = async (page, want, what) => {
    const got = await page.eval(REASONS);
    for (const r of got) {
      if (!r.off) continue;
      check(r.why !== "" && r.seen, page.name + ": Drop " + r.slot + " is off and says why on screen (" +
        (r.why || "no reason") + (r.seen ? "" : ", not shown") + ")");
    }
    for (const [slot, why] of Object.entries(want)) {
      const r = got.find((x) => x.slot === slot);
      check(r && r.off && r.why === why, page.name + ": Drop " + slot + " is off: " + why + " " + what);
    }
  };

  const bob = await loggedIn(browser, "bob", "bobpw");
  await phone(bob, true);
  await bob.waitFor(ONLINE + " === 'online'", "m1 online");
  await bob.waitFor("document.querySelectorAll('#machines li.slot').length === 4", "the four slots");
  await sleep(300);
  await expect(bob, {
    "m1/3": "not enough credit", "m1/4": "empty", "m1/5": "slot switched off", "m2/1": "machine switched off",
  }, "(bob has 0 credits)");
  check(await bob.eval("document.documentElement.scrollWidth <= 390"), "bob's machines fit a phone's width");
  await bob.shot("reasons-bob-phone");

  const alice = await loggedIn(browser, "alice", "alicepw");
  await phone(alice, true);
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.eval("document.querySelector('#drop-delay').value = '5'");
  await alice.tap(MACHINE + " button.drop[data-slot='3']");
  await alice.waitFor("document.querySelector('#drop-status').textContent.includes('Vending now')", "the drop vending");
  await expect(alice, {
    "m1/3": "your drop is under way", "m1/4": "empty", "m1/5": "slot switched off", "m2/1": "machine switched off",
  }, "(alice's drop)");
  await alice.shot("reasons-alice-dropping");
  await alice.waitFor("document.querySelector('#drop-status').textContent.startsWith('Done')", "the drop done", 15000);
  await alice.waitFor("!document.querySelector(\"" + MACHINE + " button.drop[data-slot='3']\").disabled", "Drop on again");
  check(await alice.eval("!document.querySelector(\"" + MACHINE + " li.slot\").innerText.includes('under way')"),
    "the reason goes when the button is on again");

  ctl.machine.kill("SIGTERM");
  await alice.waitFor(ONLINE + " === 'offline'", "m1 offline", 5000);
  await expect(alice, {
    "m1/3": "machine offline", "m1/4": "machine offline", "m1/5": "machine offline", "m2/1": "machine switched off",
  }, "(m1 stopped)");
  await alice.shot("reasons-alice-offline");
};

// On a phone every tab is on screen, without scrolling sideways, and
// answers a tap; on a desktop they stay one row.
SCENARIOS["tabs-on-phone"] = async (browser) => {
  for (const [user, password, n] of [["admin", "adminpw", 9], ["alice", "alicepw", 5]]) {
    const page = await loggedIn(browser, user, password);
    const TOPS = "[...document.querySelectorAll('#tabs button')].map((b) => Math.round(b.getBoundingClientRect().top))";
    const tops = await page.eval(TOPS);
    check(tops.length === n && tops.every((t) => t === tops[0]), user + ": " + n + " tabs in one row on a desktop");
    await phone(page, true);
    await sleep(300);
    const bad = await fits(page, "#tabs button");
    check(bad === "", user + ": every tab within a phone's width" + (bad ? ": " + bad : ""));
    check(await page.eval("[...document.querySelectorAll('#tabs button')].every((b) =>" +
      " b.getBoundingClientRect().bottom <= innerHeight)"), user + ": every tab within a phone's height");
    check(await page.eval("document.documentElement.scrollWidth <= 390"), user + "'s page does not scroll sideways");
    await page.shot("tabs-" + user + "-phone");
    for (const id of await page.eval("[...document.querySelectorAll('#tabs button')].map((b) => b.dataset.tab)")) {
      await page.eval("scrollTo(0, 0)");
      await page.tap("#tabbtn-" + id);
      await page.waitFor("document.querySelector('#tabbtn-" + id + "').getAttribute('aria-current') === 'page'" +
        " && !document.querySelector('#tab-" + id + "').hidden", "the " + id + " tab to open");
    }
    log(user + ": every tab opens with a tap");
  }
};

// The status line tells the latest action's outcome only: a new action's
// outcome, good or bad, replaces the last one's, and opening a form
// clears it.
SCENARIOS["status-latest"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users list");
  await moneyApply(admin, "alice", "credit", "25", "web test");
  await admin.waitFor("document.querySelector('#status').textContent === 'Balance of alice is now 125.'",
    "alice credited");
  await admin.tap("#users tr[data-user=bob] .actions button");
  await admin.waitFor("!document.querySelector('#money-form').hidden", "bob's balance form");
  check(await admin.text(STATUS) === "", "opening bob's balance form clears alice's outcome");
  await admin.typeInto("#money-amount", "500");
  await admin.typeInto("#money-note", "too much");
  await admin.eval("document.querySelector('#money-kind').value = 'debit'");
  await admin.tap("#money-form button[type=submit]");
  await admin.waitFor("document.querySelector('#money-form .error').textContent", "the debit refused");
  check(await admin.text(STATUS) === "", "a refused debit leaves no older outcome in the status line");
  await admin.shot("status-debit-refused");
  await admin.tap("#money-cancel");

  await admin.eval("[...document.querySelectorAll('#users tr[data-user=bob] .actions button')]" +
    ".find((b) => b.textContent === 'Disable').click()");
  await admin.waitFor("document.querySelector('#status').textContent === 'User bob updated.'", "bob disabled");
  await admin.typeInto("#useradd-user", "bob");
  await admin.typeInto("#useradd-password", "pw");
  await admin.tap("#useradd-form button[type=submit]");
  await admin.waitFor("document.querySelector('#useradd-form .error').textContent", "bob refused as taken");
  check(await admin.text(STATUS) === "", "a refused Add user leaves no older outcome in the status line");
  await admin.tap("#users tr[data-user=alice] button.cards");
  await admin.waitFor("!document.querySelector('#user-cards').hidden", "alice's cards");

  const ROW3 = "document.querySelector(\"#admin-machines input[aria-label='Price of slot 3']\").closest('tr')";
  const PRICE3 = "#admin-machines input[aria-label='Price of slot 3']";
  await admin.tap("#tabbtn-admin-machines");
  await admin.waitFor("document.querySelector(\"" + PRICE3 + "\")", "the slot editor");
  await admin.type(PRICE3, "12");
  await admin.eval(ROW3 + ".querySelector('button').click()");
  await admin.waitFor("document.querySelector('#status').textContent === 'Slot 3 of Big Drink saved.'", "slot 3 saved");
  await admin.type(PRICE3, "-5");
  await admin.eval(ROW3 + ".querySelector('button').click()");
  await admin.waitFor(ROW3 + ".querySelector('.error').textContent", "the bad price refused");
  check(await admin.eval(ROW3 + ".querySelector('.error').textContent") === "Price and stock are whole numbers.",
    "the bad price is told in its row");
  check(await admin.text(STATUS) === "", "slot 3's refused price leaves no 'saved' in the status line");
  await admin.shot("status-bad-price");
  await admin.type(PRICE3, "11");
  await admin.eval(ROW3 + ".querySelector('button').click()");
  await admin.waitFor("document.querySelector('#status').textContent === 'Slot 3 of Big Drink saved.'" +
    " && " + ROW3 + ".querySelector('.error').textContent === ''", "slot 3 saved again, its error gone");

  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.tap("#tabbtn-send");
  await alice.typeInto("#send-to", "admin");
  await alice.typeInto("#send-amount", "5");
  await alice.tap("#send-form button[type=submit]");
  await alice.waitFor("document.querySelector('#status').textContent === 'Sent 5 credits to admin.'", "the send");
  await alice.typeInto("#send-to", "admin");
  await alice.typeInto("#send-amount", "99999");
  await alice.tap("#send-form button[type=submit]");
  await alice.waitFor("document.querySelector('#send-form .error').textContent", "the big send refused");
  check(await alice.text(STATUS) === "", "a refused send leaves no 'Sent' in the status line");
};

async function main() {
  const name = process.argv[2];
  if (!SCENARIOS[name]) {
    throw new Error("no scenario " + name + "; there are: " + Object.keys(SCENARIOS).join(", "));
  }
  fs.mkdirSync(process.env.SHOTS, { recursive: true });
  const ctl = { machine: startMachine() };
  const browser = new Browser();
  const pages = [];
  const page = browser.page.bind(browser);
  browser.page = async (who) => {
    const p = await page(who);
    pages.push(p);
    return p;
  };
  try {
    await SCENARIOS[name](browser, ctl);
    for (const p of pages) {
      check(p.errors.length === 0, p.name + "'s page had no script errors" +
        (p.errors.length ? ": " + p.errors.join("; ") : ""));
    }
  } finally {
    ctl.machine.kill("SIGTERM");
    await browser.close();
  }
}

main().then(() => {
  log("scenario " + process.argv[2] + " passed");
  process.exit(0);
}, (e) => {
  console.error("FAILED:", e.message);
  process.exit(1);
});
