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
  Browser, log, sleep, startMachine, phone, viewport, SIZES, fits, check, login, MACHINE, ONLINE,
} = require("./lib.js");

const STATUS = "#status";

// A page logged in as user (named name, when one user has two).
async function loggedIn(browser, user, password, name) {
  const page = await browser.page(name || user);
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
  await admin.typeInto("#admin-machines input[aria-label=\"New slot's item\"]", "Tea");
  await admin.typeInto("#admin-machines input[aria-label=\"New slot's price\"]", "3");
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
  check(await admin.eval(ROW3 + ".querySelector('.error').textContent") ===
    "The price must be a whole number from 0 to 1000000000.", "the bad price is told in its row");
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

// Set up's card of a machine switched off says so at once, and its button
// then switches it on again (and off again): the card is brought up to
// date while the admin's focus is still on the button tapped, after the
// server's answer and after a machine event, and a price typed but not
// saved in the same card stays as typed through all of it.
SCENARIOS["setup-switch-toggles"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  const alice = await loggedIn(browser, "alice", "alicepw");
  await admin.waitFor(ONLINE + " === 'online'", "m1 online");
  await admin.tap("#tabbtn-admin-machines");
  // m1's card is the first; its head row is id, name, Rename, Switch, state.
  const CARD = "#admin-machines article:first-child";
  const SWITCH = CARD + " > .row:first-child > button:nth-of-type(2)";
  const STATE = CARD + " > .row:first-child > .state";
  const PRICE3 = CARD + " input[aria-label='Price of slot 3']";
  await admin.waitFor("document.querySelector(\"" + PRICE3 + "\")", "the slot editor");
  check(await admin.text(CARD + " strong") === "m1", "the first card is m1's");
  const card = () => admin.eval("[document.querySelector(\"" + SWITCH + "\").textContent," +
    " document.querySelector(\"" + STATE + "\").textContent].join(' / ')");
  check(await card() === "Switch off / online", "m1's card reads Switch off / online");
  // Half-typed, not saved: no redraw may take it away.
  await admin.typeInto(PRICE3, "5");
  const typed = await admin.value(PRICE3);

  const members = { false: "switched off", true: "online" };
  for (const on of [false, true, false]) {
    const want = (on ? "Switch off / online" : "Switch on / switched off");
    await admin.tap(SWITCH);
    await admin.waitFor("document.querySelector('#status').textContent", "the answer to the tap");
    await alice.waitFor(ONLINE + " === '" + members[on] + "'", "alice to see m1 " + members[on], 3000);
    await admin.waitFor("(" + "document.querySelector(\"" + SWITCH + "\").textContent + ' / ' +" +
      " document.querySelector(\"" + STATE + "\").textContent) === '" + want + "'",
      "m1's card to read " + want, 3000);
    check(await admin.eval("document.activeElement === document.querySelector(\"" + SWITCH + "\")"),
      "the switch still has the focus");
    check(admin.sentCmd("machine_mod").slice(-1)[0].enabled === on,
      "the tap asked to switch m1 " + (on ? "on" : "off"));
    check(await admin.text(STATUS) === "Machine m1 switched " + (on ? "on" : "off") + ".",
      "the status line says m1 is switched " + (on ? "on" : "off") + " (" + await admin.text(STATUS) + ")");
    await admin.shot("setup-switch-" + (on ? "on" : "off"));
  }
  check(admin.sentCmd("machine_mod").map((m) => m.enabled).join() === "false,true,false",
    "three taps sent off, on, off");
  // A machine event (m1 switched on from elsewhere) reaches the card too.
  check(await admin.eval("call('machine_mod', { machine: 'm1', enabled: true }).then((r) => r.ok)"),
    "m1 switched on by another request");
  await admin.waitFor("(" + "document.querySelector(\"" + SWITCH + "\").textContent + ' / ' +" +
    " document.querySelector(\"" + STATE + "\").textContent) === 'Switch off / online'",
    "m1's card to read Switch off / online after the machine event", 3000);
  check(await admin.value(PRICE3) === typed, "slot 3's unsaved price still reads " + typed);
};

// On a phone, the outcome of an action taken low on a long page is in
// sight when it comes: the status line is inside the window, not covered.
SCENARIOS["status-in-sight"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  // Enough users that the Users list is longer than a phone's screen.
  for (let i = 1; i <= 8; i++) {
    check(await admin.eval("call('user_add', { user: 'user" + i + "', password: 'pw" + i + "' }).then((r) => r.ok)"),
      "user" + i + " added");
  }
  await phone(admin, true);
  const inSight = async (what) => {
    const r = await admin.eval("(() => { const e = document.querySelector('#status'), r = e.getBoundingClientRect();" +
      " const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);" +
      " return { top: Math.round(r.top), bottom: Math.round(r.bottom), h: innerHeight, y: Math.round(scrollY)," +
      " seen: r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && !!hit && (hit === e || e.contains(hit)) }; })()");
    check(r.seen, "at 390 px the status line is in sight after " + what + " (its box " + r.top + "-" +
      r.bottom + " of " + r.h + ", page scrolled " + r.y + ")");
  };
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=user8]')", "the users list");
  await moneyApply(admin, "bob", "set_balance", "650", "walkthrough");
  await admin.waitFor("document.querySelector('#status').textContent === 'Balance of bob is now 650.'", "bob's balance set");
  await inSight("Apply, with the page scrolled to the balance form");
  await admin.shot("status-sight-balance-390");
  await viewport(admin, 1280, 800);
  await sleep(300);
  await admin.shot("status-sight-balance-1280");
  await phone(admin, true);
  await sleep(300);

  await admin.tap("#users tr[data-user=bob] button[aria-label='Disable bob']");
  await admin.waitFor("document.querySelector('#status').textContent === 'User bob updated.'", "bob updated");
  await inSight("a user's change");

  await admin.eval("scrollTo(0, 0)");
  await admin.tap("#tabbtn-admin-machines");
  const NEWSLOT = "#admin-machines input[aria-label='New slot number']";
  await admin.waitFor("document.querySelector(\"" + NEWSLOT + "\")", "the slot editor");
  await admin.typeInto(NEWSLOT, "7");
  await admin.typeInto("#admin-machines article:first-child input[aria-label=\"New slot's item\"]", "Tea");
  await admin.typeInto("#admin-machines article:first-child input[aria-label=\"New slot's price\"]", "3");
  await admin.tap("#admin-machines article:first-child .row:last-child button");
  await admin.waitFor("document.querySelector('#status').textContent === 'Slot 7 added.'", "slot 7 added");
  await inSight("Add slot");
  await admin.shot("status-sight-slot-390");
  await viewport(admin, 1280, 800);
  await sleep(300);
  await admin.shot("status-sight-slot-1280");
};

// ---- drops, devices, history and the login card at a phone's and a
// laptop's width ---------------------------------------------------------------

const BANNER = "document.querySelector('#drop-status')";
const COLA = MACHINE + " button.drop[data-slot='3']";
const WATER = MACHINE + " button.drop[data-slot='4']";

// Slot 4 as the server has it: 3 Water at 150 (until m1 next reports its
// stock, after a vend); m1's sensor sees the slot empty, so m1 refuses its
// vend at once, before the drop's wait gives its page the queued and
// vending events: they come after the reply.
async function stockWater(admin) {
  check(await admin.eval("call('slot_set', { machine: 'm1', slot: 4, price: 150, stock: 3 }).then((r) => r.ok)"),
    "slot 4 holds 3 Water at 150, as the server has it");
}

// The admin's page, with Water stocked as above and alice given 500
// credits to pay for it.
async function waterRefusedAtOnce(browser) {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.waitFor(ONLINE + " === 'online'", "m1 online");
  await stockWater(admin);
  check(await admin.eval("call('credit', { user: 'alice', amount: 400, note: 'for Water' }).then((r) => r.ok)"),
    "alice credited 400");
  return admin;
}

// Every text the drop banner shows from now on, in window.__banner.
function bannerLog(page) {
  return page.eval("window.__banner = []; new MutationObserver(() => window.__banner.push(" + BANNER +
    ".textContent)).observe(" + BANNER + ", { childList: true, characterData: true, subtree: true })");
}

// The page's screenshots at a phone's and a laptop's width, back at the
// laptop's after.
async function shots(page, name) {
  for (const [w, h] of SIZES) {
    await viewport(page, w, h);
    await sleep(300);
    await page.shot(name + "-" + w);
  }
}

// A drop made elsewhere (another device here; the command line or a card
// is the same) is followed to its end on a page left open: queued,
// vending, then how it ended, never left at "Vending now…".  The page's
// own drop is told once, in its reply's words, which its events never
// replace, even when they come after the reply.
SCENARIOS["drop-elsewhere"] = async (browser) => {
  const admin = await waterRefusedAtOnce(browser);
  const open = await loggedIn(browser, "alice", "alicepw", "alice-open");
  const other = await loggedIn(browser, "alice", "alicepw", "alice-other");
  for (const p of [open, other]) {
    await p.waitFor(ONLINE + " === 'online'", "m1 online");
    await viewport(p, 1280, 800);
    await bannerLog(p);
  }
  // The page's own drop ends at its reply's words, told: the events that
  // come after the reply (its "completed", or all of them) change nothing.
  const toldOnce = async (page, what, told) => {
    await sleep(1000);
    const seen = await page.eval("window.__banner");
    check(seen[seen.length - 1] === told && seen.filter((t) => t === told).length === 1,
      page.name + "'s own " + what + " is told once, by its reply, and stays (" + seen.join(" | ") + ")");
  };

  await other.tap(COLA);
  const cola = (await other.waitFor("(" + BANNER + ".textContent.startsWith('Done') && " + BANNER + ".textContent)",
    "the other device's Cola done", 15000)).value;
  await toldOnce(other, "Cola", cola);
  await shots(open, "elsewhere-done");
  let seen = await open.eval("window.__banner.join(' | ')");
  check(/Cola from Big Drink: Vending now/.test(seen), "the open page showed the Cola vending (" + seen + ")");
  const done = await open.text("#drop-status");
  check(done === "Cola from Big Drink: Done." && await open.eval(BANNER + ".classList.contains('good')"),
    "the open page tells the Cola from elsewhere is done (" + done + ")");

  await open.eval("window.__banner = []");
  await stockWater(admin);
  await other.tap(WATER);
  const refused = (await other.waitFor("(" + BANNER + ".classList.contains('bad') && " + BANNER + ".textContent)",
    "the other device's Water refused", 15000)).value;
  await toldOnce(other, "Water", refused);
  check(/slot 4 is empty/.test(refused), "the refusal is told in the server's words (" + refused + ")");
  await shots(open, "elsewhere-failed");
  seen = await open.eval("window.__banner.join(' | ')");
  const failed = await open.text("#drop-status");
  check(failed === "Water from Big Drink: The machine could not vend it. Nothing was charged." &&
    await open.eval(BANNER + ".classList.contains('bad')"),
    "the open page tells the Water from elsewhere failed, nothing charged (" + seen + ")");
  check(await open.text("#balance") === "490" && await other.text("#balance") === "490",
    "both pages show the balance after the Cola alone");
};

// History open on a phone follows a drop made elsewhere to its end: the
// row that showed "pending" while the machine vended reads "completed"
// when it is done, without a reload (the end moves no money, so no
// balance event says so).
SCENARIOS["history-live"] = async (browser) => {
  const open = await loggedIn(browser, "alice", "alicepw", "alice-history");
  const other = await loggedIn(browser, "alice", "alicepw", "alice-other");
  await phone(open, true);
  await open.tap("#tabbtn-history");
  await open.waitFor("document.querySelector('#history tbody td.what')?.textContent === 'credit: initial balance'",
    "the history");
  const before = Number(await open.text("#balance"));
  await other.waitFor(ONLINE + " === 'online'", "m1 online");
  await other.tap(COLA);
  await open.waitFor("document.querySelector('#history tbody td.what')?.textContent.startsWith('Cola')",
    "the Cola in History");
  await other.waitFor(BANNER + ".textContent.startsWith('Done')", "the other device's Cola done", 15000);
  const STATE = "document.querySelector('#history tbody td.tx-state').textContent";
  await open.waitFor(STATE + " === 'completed'", "History to show the Cola completed, without a reload", 3000);
  await open.shot("history-live");
  check(await open.text("#balance") === String(before - 10), "the open page shows the balance after the Cola");
};

// Logged-in devices fit the screen whatever their labels: a browser's
// user agent or a long host name wraps, and Revoke stays in reach without
// scrolling sideways, on a phone and on a laptop.
SCENARIOS["devices-fit"] = async (browser) => {
  const alice = await browser.page("alice");
  await (await login(alice, "alice", "alicepw", true))();
  // Labels of the longest kind (64 bytes): with blanks and without.
  const LABELS = [
    "browser: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHT",
    "drink-cli@build-server-with-a-really-long-hostname.example.org",
  ];
  for (const label of LABELS) {
    check(await alice.eval("call('token_create', { label: " + JSON.stringify(label) + ", days: 30 })" +
      ".then((r) => r.ok)"), "a token labelled " + label);
  }
  await alice.tap("#tabbtn-account");
  await alice.waitFor("document.querySelectorAll('#tokens tbody tr').length === 3", "three devices");
  const REVOKE = "#tokens tbody button";
  for (const [w, h] of SIZES) {
    await viewport(alice, w, h);
    await alice.eval("document.querySelector('#tokens').scrollIntoView()");
    await sleep(300);
    await alice.shot("devices-" + w);
    const bad = await fits(alice, REVOKE);
    check(bad === "", "every Revoke within " + w + " px" + (bad ? ": " + bad : ""));
    const box = await alice.eval("((e) => e.scrollWidth + ' of ' + e.clientWidth)" +
      "(document.querySelector('#tokens').parentElement)");
    check(Number(box.split(" ")[0]) <= Number(box.split(" of ")[1]),
      "the devices list does not scroll sideways at " + w + " px (" + box + ")");
    check(await alice.eval("document.documentElement.scrollWidth <= " + w), "the page does not scroll sideways at " + w + " px");
    const shown = await alice.eval("[...document.querySelectorAll('#tokens td.label')].map((c) => c.textContent)");
    check(LABELS.every((l) => shown.includes(l)), "each label is shown whole at " + w + " px");
  }
  // Revoke answers a tap where it is drawn.
  await viewport(alice, 1280, 800);
  await alice.tap("#tokens tbody tr:nth-child(3) button");
  await alice.waitFor("document.querySelectorAll('#tokens tbody tr').length === 2", "the host's token revoked");
  await viewport(alice, 390, 844);
  await alice.tap("#tokens tbody tr:nth-child(2) button");
  await alice.waitFor("document.querySelectorAll('#tokens tbody tr').length === 1", "the long browser token revoked");
};

// What members and admins name can be one long word (an item, a card's
// label, a note): on the narrowest phone (320 px) it wraps, the page does
// not scroll sideways, and the buttons beside it stay in reach.
SCENARIOS["long-words-fit"] = async (browser) => {
  const ITEM = "Rhabarberschorlenkonzentratflaschenpfandrueckgabeautomatenmate";
  const LABEL = "x".repeat(120);
  const admin = await loggedIn(browser, "admin", "adminpw");
  check(await admin.eval("call('slot_set', { machine: 'm1', slot: 5, item: " + JSON.stringify(ITEM) + " })" +
    ".then((r) => r.ok)"), "slot 5 of m1 holds " + ITEM);
  const alice = await loggedIn(browser, "alice", "alicepw");
  await viewport(alice, 320, 640);
  const sideways = async (what) => {
    await sleep(300);
    const w = await alice.eval("document.documentElement.scrollWidth");
    await alice.shot("long-words-" + what);
    check(w <= 320, what + " does not scroll sideways at 320 px (" + w + ")");
  };
  await alice.waitFor("[...document.querySelectorAll('" + MACHINE + " .item')].some((e) => e.textContent === " +
    JSON.stringify(ITEM) + ")", "the long item");
  await alice.eval("document.querySelector(\"" + MACHINE + " li.slot:last-child\").scrollIntoView()");
  await sideways("machines");
  const bad = await fits(alice, MACHINE + " button.drop");
  check(bad === "", "every Drop within 320 px" + (bad ? ": " + bad : ""));

  await alice.tap("#tabbtn-cards");
  await alice.typeInto("#my-cards .card-uid", "04A2B3C4");
  await alice.typeInto("#my-cards .card-label", LABEL);
  await alice.tap("#my-cards form button[type=submit]");
  await alice.waitFor("document.querySelector('#status').textContent === 'Card " + LABEL + " added.'", "the card added");
  await alice.waitFor("document.querySelector('#my-cards tbody button')", "the card's row");
  await alice.eval("document.querySelector('#my-cards table').scrollIntoView()");
  await sideways("cards");
  const remove = await fits(alice, "#my-cards tbody button");
  check(remove === "", "Remove within 320 px" + (remove ? ": " + remove : ""));

  await alice.tap("#tabbtn-send");
  await alice.typeInto("#send-to", "bob");
  await alice.typeInto("#send-amount", "1");
  await alice.typeInto("#send-note", ITEM);
  await alice.tap("#send-form button[type=submit]");
  await alice.waitFor("document.querySelector('#status').textContent === 'Sent 1 credits to bob.'", "the send");
  await alice.tap("#tabbtn-history");
  await alice.waitFor("document.querySelector('#history tbody td.what')?.textContent.includes(" + JSON.stringify(ITEM) + ")",
    "the note in History");
  await sideways("history");
};

// A button that sends a request is off till its reply: a double tap on
// a card's Remove removes it once and says so, with no "No such card"
// from the second tap.
SCENARIOS["remove-once"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await phone(alice, true);
  await alice.tap("#tabbtn-cards");
  await alice.typeInto("#my-cards .card-uid", "04A2B3C4");
  await alice.typeInto("#my-cards .card-label", "fob");
  await alice.tap("#my-cards form button[type=submit]");
  await alice.waitFor("document.querySelector('#status').textContent === 'Card fob added.'", "the card added");
  // The status is set before the list is read again: wait for its row.
  await alice.waitFor("document.querySelector('#my-cards tbody button')", "the card's row");
  await alice.eval("(() => { const b = document.querySelector('#my-cards tbody button'); b.click(); b.click(); })()");
  await alice.waitFor("document.querySelector('#my-cards tbody td.hint')", "no cards left");
  await sleep(500);
  check(alice.sentCmd("card_del").length === 1, "a double tap on Remove sends one card_del (" +
    alice.sentCmd("card_del").length + ")");
  const told = [await alice.text("#status"), await alice.text("#my-cards .error")];
  check(told[0] === "Card fob removed." && told[1] === "", "the removal is told, no error (" + told.join(" | ") + ")");
};

// The accessible names of the buttons named name... ("Revoke" for a
// screen reader) on page, as Chromium computes them, each with its node.
async function buttonsNamed(page, prefix) {
  await page.send("Accessibility.enable");
  const { nodes } = await page.send("Accessibility.getFullAXTree");
  return nodes.filter((n) => !n.ignored && n.role && n.role.value === "button" &&
    n.name && String(n.name.value).startsWith(prefix))
    .map((n) => ({ name: String(n.name.value), node: n.backendDOMNodeId }));
}

// Each Revoke button on the Account tab is named, for a screen reader,
// for the device it logs out, and the one named for a device logs that
// one out.
SCENARIOS["revoke-names"] = async (browser) => {
  const alice = await browser.page("alice");
  await (await login(alice, "alice", "alicepw", true))();
  const CLI = "drink-cli@laptop";
  check(await alice.eval("call('token_create', { label: '" + CLI + "', days: 30 }).then((r) => r.ok)"),
    "a token labelled " + CLI);
  check(await alice.eval("call('token_create', { days: 30 }).then((r) => r.ok)"), "a token with no label");
  const mine = (await alice.eval("call('tokens').then((r) => r.tokens)"))[0].label;
  await alice.tap("#tabbtn-account");
  await alice.waitFor("document.querySelectorAll('#tokens tbody tr').length === 3", "three devices");
  const buttons = await buttonsNamed(alice, "Revoke");
  const names = buttons.map((b) => b.name);
  log("Revoke buttons as a screen reader names them:", JSON.stringify(names));
  check(buttons.length === 3, "three Revoke buttons (" + names.length + ")");
  check(new Set(names).size === 3, "no two Revoke buttons have the same name (" + names.join(" | ") + ")");
  const named = (label) => buttons.filter((b) => b.name.includes(label));
  check(named(mine).length === 1 && /this browser/.test(named(mine)[0].name),
    "one Revoke is named for this browser's login, " + mine + " (" + names.join(" | ") + ")");
  check(named(CLI).length === 1, "one Revoke is named for " + CLI + " (" + names.join(" | ") + ")");
  check(buttons.every((b) => b.name !== "Revoke"), "no Revoke button is named just Revoke");
  await viewport(alice, 390, 844);
  await alice.eval("document.querySelector('#tokens').scrollIntoView()");
  await sleep(300);
  await alice.shot("revoke-names-390");
  // The button a screen reader calls "Revoke drink-cli@laptop" revokes that one.
  const { object } = await alice.send("DOM.resolveNode", { backendNodeId: named(CLI)[0].node });
  await alice.send("Runtime.callFunctionOn", { objectId: object.objectId,
    functionDeclaration: "function () { this.dataset.picked = 'yes'; }" });
  await alice.tap("#tokens button[data-picked=yes]");
  await alice.waitFor("document.querySelectorAll('#tokens tbody tr').length === 2", "a device revoked");
  const left = await alice.eval("call('tokens').then((r) => r.tokens.map((t) => t.label))");
  check(!left.includes(CLI) && left.includes(mine), "the Revoke named for " + CLI + " revoked it (" + left + ")");
};

// The admin's buttons on each row of Users and Online are named, for a
// screen reader, with the user or session they act on: the same words on
// every row would not say which.
SCENARIOS["admin-buttons-named"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users list");
  for (const [prefix, want] of [["Balance of ", "Balance of alice…"], ["Cards of ", "Cards of bob…"],
    ["Make ", "Make alice an admin"], ["Disable ", "Disable bob"]]) {
    const names = (await buttonsNamed(admin, prefix)).map((b) => b.name);
    log(prefix + "… buttons:", JSON.stringify(names));
    check(names.length >= 3 && new Set(names).size === names.length,
      "each " + prefix + "button has a name of its own (" + names.join(" | ") + ")");
    check(names.includes(want), "one is named " + want + " (" + names.join(" | ") + ")");
  }
  const alice = await browser.page("alice");
  await (await login(alice, "alice", "alicepw", false))();
  await admin.tap("#tabbtn-online");
  await admin.waitFor("document.querySelectorAll('#online tbody tr').length >= 2", "two sessions online");
  const kicks = (await buttonsNamed(admin, "Kick")).map((b) => b.name);
  log("Kick buttons:", JSON.stringify(kicks));
  check(kicks.length >= 2 && new Set(kicks).size === kicks.length,
    "each Kick names its session (" + kicks.join(" | ") + ")");
  check(kicks.some((k) => /^Kick session \d+ \(alice from 127\.0\.0\.1\)$/.test(k)),
    "one Kick is named for alice's session (" + kicks.join(" | ") + ")");
};

// Changing the password logs every device out, this one included, so the
// page makes itself a new token: labelled as its login labelled it
// ("… (browser)" when staying logged in, "… (tab)" for this tab alone),
// with the same lifetime, kept where the login kept it, also when the
// page was logged in by its token (a reload) rather than the password.
// A reload after stays logged in.
SCENARIOS["passwd-keeps-login"] = async (browser) => {
  for (const [user, pw, stay] of [["alice", "alicepw", true], ["bob", "bobpw", false]]) {
    const page = await browser.page(user);
    await phone(page, false);
    await (await login(page, user, pw, stay))();
    const TOKENS = "call('tokens').then((r) => r.tokens)";
    const before = await page.eval(TOKENS);
    check(before.length === 1 && before[0].label.endsWith(stay ? " (browser)" : " (tab)"),
      user + " logged in with one token, " + (before[0] || {}).label);
    const life = before[0].expires - before[0].created;
    // After a reload the page is logged in by its token, which makes no
    // token (protocol: token_create); the new password lets it make one.
    await page.goto(process.env.WEB_URL);
    await page.waitFor("!document.querySelector('#app-view').hidden && " +
      "document.querySelector('#user-name').textContent === '" + user + "'", user + " logged in again by the token");
    await page.tap("#tabbtn-account");
    await page.typeInto("#passwd-old", pw);
    await page.typeInto("#passwd-new", pw + "2");
    await page.typeInto("#passwd-again", pw + "2");
    await page.tap("#passwd-form button[type=submit]");
    await page.waitFor("document.querySelector('#status').textContent === " +
      "'Password changed. Other devices are logged out.'", user + "'s password changed");
    await page.waitFor("document.querySelector('#tokens td.label')?.textContent.endsWith(' — this browser')",
      "this browser's new token listed");
    const after = await page.eval(TOKENS);
    // (The old token is gone; its id may be the new one's.)
    check(after.length === 1, user + " has one token, the new one (" + JSON.stringify(after) + ")");
    check(after[0].label === before[0].label, user + "'s new token is labelled as the login's was (" +
      JSON.stringify(after[0].label) + ", the login's " + JSON.stringify(before[0].label) + ")");
    check(Math.abs(after[0].expires - after[0].created - life) <= 2, user + "'s new token lasts as the login's did (" +
      (after[0].expires - after[0].created) + " s, the login's " + life + " s)");
    const where = await page.eval("[!!localStorage.getItem('drink.token'), !!sessionStorage.getItem('drink.token')]");
    check(where[0] === stay && where[1] === !stay, user + "'s new token is kept in " +
      (stay ? "localStorage" : "sessionStorage") + " as the login's was (" + where + ")");
    await viewport(page, 390, 844);
    await page.eval("document.querySelector('#tokens').scrollIntoView()");
    await sleep(300);
    await page.shot("passwd-token-" + user + "-390");
    await viewport(page, 1100, 800);
    await page.goto(process.env.WEB_URL);
    await page.waitFor("!document.querySelector('#app-view').hidden && " +
      "document.querySelector('#user-name').textContent === '" + user + "'", user + " still logged in after a reload");
    check(await page.eval("document.querySelector('#login-view').hidden"), user + " is not asked to log in again");
  }
};

// How a row's cells lie, line by line: "what amount / time tx-state".
function rowLines(page, find, table) {
  return page.eval("((tr) => { if (!tr) return 'no such row';" +
    " const cells = [...tr.cells].filter((c) => c.getClientRects().length > 0)" +
    "   .map((c) => ({ name: c.className.split(' ').pop(), r: c.getBoundingClientRect() }))" +
    "   .sort((a, b) => a.r.top - b.r.top);" +
    " const lines = [];" +
    " for (const c of cells) {" +
    "   const line = lines[lines.length - 1];" +
    "   if (line && c.r.top < line.bottom - 1) { line.cells.push(c); line.bottom = Math.max(line.bottom, c.r.bottom); }" +
    "   else lines.push({ cells: [c], bottom: c.r.bottom });" +
    " }" +
    " return lines.map((l) => l.cells.sort((a, b) => a.r.left - b.r.left).map((c) => c.name).join(' ')).join(' / ');" +
    " })([...document.querySelectorAll('" + (table || "#history") + " tbody tr')].find(" + find + "))");
}

// A failed drop's row in History and in the Log is laid out as every
// other row: on a phone, what and the amount (struck through, "not
// charged") on the first line, when and the state on the second.
SCENARIOS["history-failed-row"] = async (browser) => {
  const admin = await waterRefusedAtOnce(browser);
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.tap(WATER);
  // Cola once the Water's reply has come (the Drop buttons are off till then).
  await alice.tap(COLA);
  await alice.waitFor(BANNER + ".textContent.startsWith('Done')", "the Cola dropped", 15000);
  await alice.tap("#tabbtn-history");
  const FAILED = "(r) => r.querySelector('td.tx-state')?.textContent === 'failed'";
  const COMPLETED = "(r) => r.querySelector('td.what')?.textContent.startsWith('Cola')";
  await alice.waitFor("[...document.querySelectorAll('#history tbody tr')].some(" + FAILED + ")", "the failed drop in History");
  check(/^<s>-150<\/s>/.test(await alice.eval("[...document.querySelectorAll('#history tbody tr')].find(" + FAILED +
    ").querySelector('td.amount').innerHTML")), "the failed drop's -150 is struck through");
  const lines = {};
  for (const [w, h] of SIZES) {
    await viewport(alice, w, h);
    await sleep(300);
    await alice.shot("history-failed-" + w);
    lines[w] = [await rowLines(alice, FAILED), await rowLines(alice, COMPLETED)];
  }
  for (const [w] of SIZES) {
    const [failed, completed] = lines[w];
    check(failed === completed, "at " + w + " px the failed drop's row (" + failed +
      ") is laid out as the completed one's (" + completed + ")");
    if (w < 520) {
      check(completed === "what amount / time tx-state", "on a phone a row is what and amount, then when and state");
    }
  }
  check(await alice.eval("document.documentElement.scrollWidth <= 1280"), "History does not scroll sideways");
  // The admin's Log shows the same two drops alike too (the completed
  // one has its Refund button on a line of its own).
  await admin.tap("#tabbtn-log");
  const LOG_FAILED = "(r) => r.querySelector('td.tx-state')?.textContent === 'failed'";
  await admin.waitFor("[...document.querySelectorAll('#log tbody tr')].some(" + LOG_FAILED + ")", "the failed drop in the Log");
  for (const [w, h] of SIZES) {
    await viewport(admin, w, h);
    await sleep(300);
    await admin.shot("log-failed-" + w);
    const failed = await rowLines(admin, LOG_FAILED, "#log");
    const completed = (await rowLines(admin, COMPLETED, "#log")).replace(/ \/ act$/, "");
    check(failed === completed, "at " + w + " px the Log's failed drop row (" + failed +
      ") is laid out as the completed one's (" + completed + ")");
    if (w < 520) {
      check(completed === "what amount / time tx user tx-state", "on a phone a Log row is what and amount, then when, tx, who and state");
    }
  }
};

// The login card is in the middle of the screen, on a phone and on a laptop.
SCENARIOS["login-centred"] = async (browser) => {
  const page = await browser.page("visitor");
  await page.goto(process.env.WEB_URL);
  await page.waitFor("!document.querySelector('#login-view').hidden", "the login form");
  for (const [w, h] of SIZES) {
    await viewport(page, w, h);
    await sleep(300);
    await page.shot("login-" + w);
    const r = await page.eval("((r) => [r.left, r.right])(document.querySelector('#login-view').getBoundingClientRect())");
    const W = await page.eval("document.documentElement.clientWidth");
    check(Math.abs(r[0] - (W - r[1])) <= 1, "the login card is centred at " + w + " px (x " + r[0] + "-" + r[1] + " of " + W + ")");
  }
  // Still usable: the keyboard's focus starts in the user name.
  check(await page.eval("document.activeElement.id") === "login-user", "the user name field has the focus");
};

// ---- outcomes told in words a person reads ----------------------------------

// The text and colour of what the login card says, and the colour an error
// is shown in: a notice must not look like one.
function loginSays(page) {
  return page.eval("(() => { const l = [...document.querySelectorAll('#login-form p')]" +
    ".filter((e) => e.textContent.trim() !== '');" +
    " const bad = getComputedStyle(document.querySelector('#login-error')).color;" +
    " return { text: l.map((e) => e.textContent).join(' | ')," +
    " colours: l.map((e) => getComputedStyle(e).color), bad: bad }; })()");
}

// Add a user and Add machine say what they did in the status line, and a
// name the server refuses is explained in words, not in the protocol's
// ("\"user\" must be a user name: ...").  A typed name is lower-cased, as
// the login and Send do.
SCENARIOS["adds-told"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users list");
  await admin.typeInto("#useradd-user", "Carol");
  await admin.typeInto("#useradd-password", "carolpw");
  await admin.tap("#useradd-form button[type=submit]");
  await admin.waitFor("document.querySelector('#users tr[data-user=carol]')", "carol in the users list");
  const added = (await admin.waitFor("document.querySelector('#status').textContent", "the status line")).value;
  check(added === "User carol added.", "the status line says User carol added. (" + JSON.stringify(added) + ")");
  check(await admin.text("#useradd-form .error") === "", "no error under Add a user");
  await phone(admin, true);
  await admin.typeInto("#useradd-user", "Bad Name!");
  await admin.typeInto("#useradd-password", "pw");
  await admin.tap("#useradd-form button[type=submit]");
  const bad = (await admin.waitFor("document.querySelector('#useradd-form .error').textContent",
    "Bad Name! refused")).value;
  check(/^A user name is lower-case letters, digits, .*\.$/.test(bad) && !bad.includes('"'),
    "Bad Name! is refused in words: " + bad);
  await sleep(300);
  await admin.eval("document.querySelector('#useradd-form').scrollIntoView({ block: 'center' })");
  await admin.shot("adds-user-bad-name-390");

  await admin.eval("scrollTo(0, 0)");
  await admin.tap("#tabbtn-admin-machines");
  await admin.waitFor("document.querySelector('#admin-machines article')", "the machines");
  await admin.typeInto("#machineadd-id", "M3");
  await admin.typeInto("#machineadd-name", "Third Drink");
  await admin.tap("#machineadd-form button[type=submit]");
  await admin.waitFor("document.querySelector('#admin-machines article[data-machine=m3]')", "m3 in Set up");
  const madded = (await admin.waitFor("document.querySelector('#status').textContent", "the status line")).value;
  check(madded === "Machine m3 added.", "the status line says Machine m3 added. (" + JSON.stringify(madded) + ")");
  await sleep(300);
  await admin.shot("adds-machine-added-390");
  await admin.typeInto("#machineadd-id", "Bad Id!");
  await admin.typeInto("#machineadd-name", "Nope");
  await admin.tap("#machineadd-form button[type=submit]");
  const mbad = (await admin.waitFor("document.querySelector('#machineadd-form .error').textContent",
    "Bad Id! refused")).value;
  check(/^A machine id is lower-case letters, digits, .*\.$/.test(mbad) && !mbad.includes('"'),
    "Bad Id! is refused in words: " + mbad);
  await admin.eval("document.querySelector('#machineadd-form').scrollIntoView({ block: 'center' })");
  await sleep(300);
  await admin.shot("adds-machine-bad-id-390");
};

// An admin's page on the Log, which shows at least one entry (alice's
// credit).
async function logWithEntry(browser) {
  const admin = await loggedIn(browser, "admin", "adminpw");
  check(await admin.eval("call('credit', { user: 'alice', amount: 5, note: 'log test' }).then((r) => r.ok)"),
    "alice credited, so the Log has an entry");
  await admin.tap("#tabbtn-log");
  await admin.waitFor("document.querySelector('#log tbody tr[data-tx]')", "the Log's entries");
  return admin;
}

// The Log filtered to a user with no entries says so, as History does
// when it is empty; the filter cleared, the entries are back.
SCENARIOS["log-empty"] = async (browser) => {
  const admin = await logWithEntry(browser);
  await admin.typeInto("#log-user", "nobody");
  await admin.tap("#log-form button[type=submit]");
  await admin.waitFor("!document.querySelector('#log tbody tr[data-tx]')", "the entries gone");
  await sleep(300);
  const said = await admin.eval("document.querySelector('#log tbody').innerText.trim()");
  check(said === "No entries for nobody.", "the empty Log says No entries for nobody. (" + JSON.stringify(said) + ")");
  await phone(admin, true);
  await sleep(300);
  await admin.eval("document.querySelector('#log').scrollIntoView({ block: 'center' })");
  await admin.shot("log-empty-390");
  await phone(admin, false);
  await admin.type("#log-user", "");
  await admin.tap("#log-form button[type=submit]");
  await admin.waitFor("document.querySelector('#log tbody tr[data-tx]')", "the entries back");
  check(!(await admin.eval("document.querySelector('#log tbody').innerText")).includes("No entries"),
    "with entries, no word of none");
};

// Slots of m1 that are not set up (check_browser.c's setup_no_item: slot
// 6's item "", slot 7's blanks) are not offered: no empty box to drop
// from, which the server would refuse.
SCENARIOS["no-item-not-offered"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.waitFor("document.querySelectorAll('#machines li.slot').length >= 4", "the slots");
  await sleep(300);
  const slots = await alice.eval("[...document.querySelectorAll('#machines button.drop')]" +
    ".map((b) => b.closest('.machine').dataset.machine + '/' + b.dataset.slot).sort().join(' ')");
  check(slots === "m1/3 m1/4 m1/5 m2/1", "only the slots with an item are offered (" + slots + ")");
  const items = await alice.eval("[...document.querySelectorAll('#machines li.slot .item')]" +
    ".filter((e) => !e.textContent.trim()).length");
  check(items === 0, "no slot reads as nothing (" + items + ")");
};

// A refund's reason is the ledger's note: left empty or blank it is
// asked for again in the prompt's words, and nothing is sent; with one,
// the drop is refunded.
SCENARIOS["refund-needs-reason"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  const tx = await alice.eval("call('drop', { machine: 'm1', slot: 3 }).then((r) => r.ok ? r.tx : JSON.stringify(r))");
  check(typeof tx === "number", "alice dropped a Cola (" + tx + ")");
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-log");
  const REFUND = "#log tr[data-tx='" + tx + "'] button.refund";
  await admin.waitFor("document.querySelector(\"" + REFUND + "\")", "Refund on alice's drop");
  for (const answer of ["", "   "]) {
    admin.dialogAnswer = answer;
    await admin.tap(REFUND);
    await admin.waitFor("document.querySelector('#status').classList.contains('bad')", "the blank reason refused");
    const said = await admin.text(STATUS);
    check(said === "A refund needs a reason, for the ledger; nothing was refunded.",
      "a reason of " + JSON.stringify(answer) + " is asked for (" + said + ")");
    check(admin.sentCmd("refund").length === 0, "nothing is sent for " + JSON.stringify(answer));
    await admin.eval("setStatus('')");
  }
  admin.dialogAnswer = "came out warm";
  await admin.tap(REFUND);
  await admin.waitFor("document.querySelector('#status').textContent === 'Refunded tx " + tx + ".'", "the refund");
  check(admin.sentCmd("refund").length === 1 && admin.sentCmd("refund")[0].note === "came out warm",
    "the refund carries its reason");
};

// Since after Until is said in the form's words, and nothing is asked
// of the server; one day (Since = Until) is a range.
SCENARIOS["log-range-reversed"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-log");
  await admin.waitFor("document.querySelector('#log tbody tr')", "the Log");
  const asked = admin.sentCmd("log").length;
  await admin.eval("document.querySelector('#log-since').value = '2026-01-02'; " +
    "document.querySelector('#log-until').value = '2026-01-01'; true");
  await admin.tap("#log-form button[type=submit]");
  await admin.waitFor("document.querySelector('#log-form .error').textContent !== ''", "the form's error");
  const said = await admin.text("#log-form .error");
  await admin.shot("log-range-reversed");
  check(said === "Since is after Until, so no entry could match.",
    "Since after Until is said (" + JSON.stringify(said) + ")");
  check(admin.sentCmd("log").length === asked, "no log request was sent");
  await admin.eval("document.querySelector('#log-until').value = '2026-01-02'; true");
  await admin.tap("#log-form button[type=submit]");
  await admin.waitFor("document.querySelector('#log-form .error').textContent === ''", "the error gone");
  check(admin.sentCmd("log").length === asked + 1, "one day is asked for");
};

// A filter the server refuses leaves no list under it: what was shown
// was the answer to another filter, and under this one it would read as
// this one's ("No entries for nobody." under an empty User field).
SCENARIOS["log-refused-clears"] = async (browser) => {
  const admin = await logWithEntry(browser);
  await admin.typeInto("#log-machine", "Big Fridge");
  await admin.tap("#log-form button[type=submit]");
  await admin.waitFor("document.querySelector('#log-form .error').textContent", "the filter refused");
  check((await admin.text("#log-form .error")).startsWith("A machine id is"),
    "the refusal names the rule (" + await admin.text("#log-form .error") + ")");
  check(await admin.eval("document.querySelectorAll('#log tbody tr').length") === 0,
    "no entries of the filter before are left under the refused one");
  check(await admin.eval("document.querySelector('#log-older').disabled"), "no Older for a list not shown");

  await admin.type("#log-machine", "");
  await admin.typeInto("#log-user", "nobody");
  await admin.tap("#log-form button[type=submit]");
  await admin.waitFor("document.querySelector('#log tbody').innerText.trim() === 'No entries for nobody.'",
    "the empty Log");
  await admin.type("#log-user", "");
  await admin.typeInto("#log-machine", "Big Fridge");
  await admin.tap("#log-form button[type=submit]");
  await admin.waitFor("document.querySelector('#log-form .error').textContent", "the filter refused again");
  await admin.shot("log-refused-clears");
  const left = await admin.eval("document.querySelector('#log tbody').innerText.trim()");
  check(left === "", "no word of the last filter's result under the refused one (" + JSON.stringify(left) + ")");
};

// Older goes on with the list shown, whatever has been typed into the
// filter since: the next page of an unfiltered Log, not bob's entries
// older than its last (none, which ended the list without a word).
SCENARIOS["log-older-same-list"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  check(await admin.eval("(async () => { for (let i = 1; i <= 52; i++) {" +
    " if (!(await call('credit', { user: 'alice', amount: 1, note: 'page ' + i })).ok) return false; }" +
    " return true; })()"), "52 credits to alice, more than one page of the Log");
  await admin.tap("#tabbtn-log");
  await admin.waitFor("document.querySelectorAll('#log tbody tr[data-tx]').length === 50", "the Log's first page");
  await admin.typeInto("#log-user", "bob");
  await admin.tap("#log-older");
  await admin.waitFor("document.querySelectorAll('#log tbody tr[data-tx]').length > 50", "the next page", 3000);
  const notes = await admin.eval("[...document.querySelectorAll('#log tbody tr[data-tx] .what')].map((e) => e.textContent)");
  check(notes.includes("credit: page 1"), "the next page has the first credit (" + notes.slice(-3).join(", ") + ")");
};

// A refund says what it gave back, in History and in the Log, as drink
// history does: the drop's item, machine and slot, then the reason.
SCENARIOS["refund-names-drop"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.tap(COLA);
  await alice.waitFor(BANNER + ".textContent.startsWith('Done')", "the Cola dropped", 15000);
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-log");
  admin.dialogAnswer = "jammed";
  await admin.tap("#log button.refund");
  await admin.waitFor("document.querySelector('#status').textContent.startsWith('Refunded')", "the refund");
  const REFUND = "[...document.querySelectorAll('#log tbody tr')]" +
    ".find((r) => r.querySelector('.amount')?.textContent === '+10')?.querySelector('.what').textContent";
  await admin.waitFor(REFUND, "the refund in the Log");
  const logged = await admin.eval(REFUND);
  check(logged === "refund of Cola from Big Drink slot 3: jammed", "the Log names what was refunded (" + logged + ")");
  await alice.tap("#tabbtn-history");
  const WHAT = "(document.querySelector('#history tbody td.what') || {}).textContent";
  await alice.waitFor(WHAT + "?.startsWith('refund')", "the refund in History");
  const what = await alice.eval(WHAT);
  check(what === "refund of Cola from Big Drink slot 3: jammed", "History names what was refunded (" + what + ")");
  await phone(alice, true);
  await alice.shot("refund-names-drop-390");
};

// A refund reads the Log again with the filter its list was shown for,
// as Older goes on with it: what has been typed into the fields since
// waits for Show, and the list does not turn into bob's (none).
SCENARIOS["refund-keeps-list"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.tap(COLA);
  await alice.waitFor(BANNER + ".textContent.startsWith('Done')", "the Cola dropped", 15000);
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-log");
  await admin.waitFor("document.querySelector('#log button.refund')", "the drop in the Log");
  await admin.typeInto("#log-user", "bob");
  admin.dialogAnswer = "jammed";
  await admin.tap("#log button.refund");
  await admin.waitFor("document.querySelector('#status').textContent.startsWith('Refunded')", "the refund");
  const REFUND = "[...document.querySelectorAll('#log tbody tr')]" +
    ".some((r) => r.querySelector('.what')?.textContent.startsWith('refund of Cola'))";
  await admin.waitFor(REFUND + " || document.querySelector('#log tbody').innerText.includes('No entries')",
    "the Log read again");
  const shown = await admin.eval("document.querySelector('#log tbody').innerText.trim()");
  check(await admin.eval(REFUND), "the refund shows in the list it was made from (" + JSON.stringify(shown) + ")");
  check(await admin.eval("[...document.querySelectorAll('#log tbody tr[data-tx] .user')]" +
    ".some((e) => e.textContent === 'alice')"), "alice's entries are still listed (" + JSON.stringify(shown) + ")");
  check(await admin.value("#log-user") === "bob", "what was typed stays in the field");
};

// A slot's price or stock out of its range is refused in the server's
// words, naming the field and its range: -5 is a whole number, so "Price
// and stock are whole numbers." would not say what is wrong with it.
SCENARIOS["slot-range-told"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-admin-machines");
  const ROW = "#admin-machines article[data-machine=m1] tr[data-slot='3']";
  await admin.waitFor("document.querySelector(\"" + ROW + "\")", "the slot editor");
  await admin.type(ROW + " input[aria-label='Price of slot 3']", "-5");
  await admin.tap(ROW + " .save button");
  await admin.waitFor("document.querySelector(\"" + ROW + " .error\").textContent", "the price refused");
  const said = await admin.text(ROW + " .error");
  check(said === "The price must be a whole number from 0 to 1000000000.", "the price's range is told (" + said + ")");
  await admin.type(ROW + " input[aria-label='Price of slot 3']", "10");
  await admin.type(ROW + " input[aria-label='Stock of slot 3']", "1.5");
  await admin.tap(ROW + " .save button");
  await admin.waitFor("document.querySelector(\"" + ROW + " .error\").textContent", "the stock refused");
  const stock = await admin.text(ROW + " .error");
  check(stock === "Price and stock are whole numbers.", "a stock that is no whole number is told so (" + stock + ")");
  check(admin.sentCmd("slot_set").length === 1, "the stock of 1.5 was not sent");
};

// A delayed drop counts its delay down while the machine waits, as drink
// drop does, so whoever walks to the machine knows how long is left; at
// the end the count goes.
SCENARIOS["drop-counts-down"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await phone(alice, true);
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.eval("document.querySelector('#drop-delay').value = '5'");
  await alice.tap(COLA);
  await alice.waitFor(BANNER + ".textContent.includes('Vending now')", "the drop vending");
  const left = async () => Number((/drops in ([0-9]+) s/.exec(await alice.text("#drop-status")) || [])[1]);
  const first = await left();
  check(first >= 4 && first <= 5, "the count starts at the delay (" + await alice.text("#drop-status") + ")");
  await alice.shot("drop-counts-down-390");
  await sleep(2100);
  const later = await left();
  check(later >= 1 && later <= first - 2, "two seconds on, it is two less or more (" +
    await alice.text("#drop-status") + ")");
  await alice.waitFor(BANNER + ".textContent.startsWith('Done')", "the drop done", 15000);
  check(!(await alice.text("#drop-status")).includes("drops in"), "the count is gone with the outcome");
};

// The Log's Machine filter takes a machine as the Log's rows name it,
// by its display name, as well as by its id, and offers the machines to
// pick from: an admin who typed "Big Drink" was told the rule of ids.
SCENARIOS["log-machine-by-name"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.tap(COLA);
  await alice.waitFor(BANNER + ".textContent.startsWith('Done')", "the Cola dropped", 15000);
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-log");
  await admin.waitFor("document.querySelector('#log tbody tr[data-tx]')", "the Log's entries");
  const offered = await admin.eval("[...document.querySelectorAll('#log-machines option')]" +
    ".map((o) => o.value + '=' + o.label).join(', ')");
  check(offered === "m1=Big Drink, m2=Small Drink", "the machines are offered (" + offered + ")");
  await admin.typeInto("#log-machine", "big drink");
  await admin.tap("#log-form button[type=submit]");
  await sleep(500);
  const err = await admin.text("#log-form .error");
  check(err === "", "a display name is taken (" + err + ")");
  const rows = await admin.eval("[...document.querySelectorAll('#log tbody tr')].map((r) => r.innerText.trim())");
  check(rows.length === 1 && rows[0].includes("Cola from Big Drink slot 3"),
    "m1's drop alone is listed (" + JSON.stringify(rows) + ")");
  check(admin.sentCmd("log").slice(-1)[0].machine === "m1", "the filter sent is m1's id");
};

// An action asked for while the page is reconnecting (the server down
// for a moment) is answered at once, saying nothing was sent: it does not
// wait on a connection that will never come, its button off for good and
// no word said.  Once the page is back, the same action goes through.
SCENARIOS["offline-action-told"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.tap("#tabbtn-send");
  // The server unreachable: every new connection fails (a path that is
  // not the WebSocket's) until __down goes.
  await alice.eval("(() => { const Real = WebSocket; window.__down = true;" +
    " window.WebSocket = function (url) { return new Real(window.__down ? 'wss://' + location.host + '/down' : url); };" +
    " Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });" +
    " conn.ws.close(); })()");
  await alice.waitFor("document.querySelector('#status').textContent.startsWith('Connection lost')", "the loss told");
  await sleep(1200);
  await alice.typeInto("#send-to", "bob");
  await alice.typeInto("#send-amount", "3");
  await alice.tap("#send-form button[type=submit]");
  const SEND = "document.querySelector('#send-form button[type=submit]')";
  await alice.waitFor("!" + SEND + ".disabled && document.querySelector('#send-form .error').textContent",
    "the send answered", 4000);
  const said = await alice.text("#send-form .error");
  check(/nothing was sent/i.test(said), "the page says nothing was sent (" + said + ")");
  await alice.shot("offline-action-told");
  check(alice.sentCmd("send").length === 0, "no send went out");
  await alice.eval("window.__down = false");
  await alice.waitFor("conn.ws.readyState === WebSocket.OPEN && document.querySelector('#status').textContent === ''",
    "the page back", 20000);
  await alice.tap("#send-form button[type=submit]");
  await alice.waitFor("document.querySelector('#status').textContent === 'Sent 3 credits to bob.'", "the send made");
  check(await alice.text("#balance") === "97", "sent once (balance " + await alice.text("#balance") + ")");
};

// "Connection lost; reconnecting…" stays on the status line while the
// page is offline: switching tabs or an action's answer does not clear
// it until the next failed attempt (up to 15 s later); the page back, it
// goes.
SCENARIOS["offline-status-kept"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  const LOST = "Connection lost; reconnecting…";
  await alice.eval("(() => { const Real = WebSocket; window.__down = true;" +
    " window.WebSocket = function (url) { return new Real(window.__down ? 'wss://' + location.host + '/down' : url); };" +
    " Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });" +
    " conn.ws.close(); })()");
  await alice.waitFor("document.querySelector('#status').textContent === '" + LOST + "'", "the loss told");
  // Past the quick first attempts: the next is seconds away.
  await sleep(4000);
  await alice.tap("#tabbtn-history");
  await sleep(200);
  let said = await alice.text("#status");
  check(said === LOST, "a tab switched to still says the page is offline (" + JSON.stringify(said) + ")");
  await alice.tap("#tabbtn-send");
  await alice.typeInto("#send-to", "bob");
  await alice.typeInto("#send-amount", "3");
  await alice.tap("#send-form button[type=submit]");
  await alice.waitFor("document.querySelector('#send-form .error').textContent", "the send answered", 4000);
  said = await alice.text("#status");
  await alice.shot("offline-status-kept");
  check(said === LOST, "an action's answer leaves the page said to be offline (" + JSON.stringify(said) + ")");
  await alice.eval("window.__down = false");
  await alice.waitFor("conn.ws.readyState === WebSocket.OPEN && document.querySelector('#status').textContent === ''",
    "the page back, the line gone", 20000);
};

// Revoking this browser's own login asks first, saying it logs this
// browser out; done, the page is logged out at once and says why.  Log
// out's "You are logged out." is a notice, not an error.
SCENARIOS["revoke-this-browser"] = async (browser) => {
  const alice = await browser.page("alice");
  await (await login(alice, "alice", "alicepw", true))();
  await alice.tap("#tabbtn-account");
  await alice.waitFor("document.querySelector('#tokens td.label')?.textContent.endsWith(' — this browser')",
    "this browser's login listed");
  const ROW = "#tokens tbody tr:first-child button";
  alice.dialogAnswer = null;
  await alice.tap(ROW);
  await sleep(500);
  check(alice.asked.length === 1 && /log(s|ged)? (you |this browser )?out/i.test(alice.asked[0]) &&
    /this browser/i.test(alice.asked[0]), "Revoke asks first, saying it logs this browser out (" +
    JSON.stringify(alice.asked) + ")");
  check(alice.sentCmd("token_revoke").length === 0, "cancelled, nothing is revoked");
  check(!(await alice.eval("document.querySelector('#app-view').hidden")), "cancelled, alice stays logged in");
  alice.dialogAnswer = "";
  await alice.tap(ROW);
  await alice.waitFor("!document.querySelector('#login-view').hidden", "the login form after the revoke", 5000);
  const says = await loginSays(alice);
  check(says.text === "This browser's login was revoked.", "the login card says why (" + says.text + ")");
  check(says.colours.every((c) => c !== says.bad), "as a notice, not in the error's colour (" +
    says.colours + " vs " + says.bad + ")");
  check(alice.sentCmd("logout").length === 1, "the page logged out of its session");
  check(await alice.eval("!localStorage.getItem('drink.token') && !sessionStorage.getItem('drink.token')"),
    "no token is kept");
  await viewport(alice, 390, 844);
  await sleep(300);
  await alice.shot("revoke-this-browser-390");
  await alice.goto(process.env.WEB_URL);
  await alice.waitFor("!document.querySelector('#login-view').hidden", "the login form after a reload");
  check((await loginSays(alice)).text === "", "a reload finds the plain login form");

  // Log out: its message is a notice too.
  await viewport(alice, 1100, 800);
  await (await login(alice, "alice", "alicepw", true))();
  await alice.tap("#logout");
  await alice.waitFor("!document.querySelector('#login-view').hidden", "the login form after Log out");
  const out = await loginSays(alice);
  check(out.text === "You are logged out.", "Log out says You are logged out. (" + out.text + ")");
  // The next person at this browser is not offered the last one's login.
  const form = await alice.eval("[document.querySelector('#login-user').value, " +
    "document.querySelector('#login-stay').checked]");
  check(form[0] === "" && form[1] === false, "the login form is empty after Log out (" + form + ")");
  check(out.colours.every((c) => c !== out.bad), "not in the error's colour (" + out.colours + " vs " + out.bad + ")");
  await viewport(alice, 390, 844);
  await sleep(300);
  await alice.shot("logged-out-390");
  // A failed login is still an error, and the notice goes with it.
  await alice.type("#login-user", "alice");
  await alice.type("#login-password", "wrong");
  await alice.tap("#login-submit");
  await alice.waitFor("document.querySelector('#login-error').textContent", "the failed login");
  const failed = await loginSays(alice);
  check(failed.colours.length === 1 && failed.colours[0] === failed.bad,
    "a failed login reads as an error, alone (" + JSON.stringify(failed) + ")");
};

// A login's token is labelled with the browser and system a person knows
// it by, and whether it stays ("browser") or lives as long as the tab.
const AGENTS = [
  ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Chrome on Linux"],
  ["Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", "Firefox on Android"],
  ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 " +
    "Safari/537.36 Edg/120.0.2210.91", "Edge on Windows"],
  ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
    "Version/17.2 Mobile/15E148 Safari/604.1", "Safari on iPhone"],
  ["Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 " +
    "Mobile/15E148 Safari/604.1", "Chrome on iPad"],
  ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
    "Version/17.2 Safari/605.1.15", "Safari on macOS"],
  ["Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on Linux"],
  ["Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile " +
    "Safari/537.36", "Chrome on Android"],
  ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/119.0 Chrome/119.0 " +
    "Safari/537.36", "Chromium on Linux"],
];

SCENARIOS["device-labels"] = async (browser) => {
  for (const [user, pw, stay, ua, want] of [
    ["alice", "alicepw", true, AGENTS[0][0], "Chrome on Linux (browser)"],
    ["bob", "bobpw", false, AGENTS[1][0], "Firefox on Android (tab)"],
    ["admin", "adminpw", false, "Curious/1.0 (Plan 9) " + "x".repeat(80), null],
  ]) {
    const page = await browser.page(user);
    await page.send("Emulation.setUserAgentOverride", { userAgent: ua });
    await (await login(page, user, pw, stay))();
    const label = (await page.eval("call('tokens').then((r) => r.tokens)"))[0].label;
    if (want) {
      check(label === want, user + "'s login is labelled " + want + " (" + JSON.stringify(label) + ")");
    } else {
      check(label.startsWith("Curious/1.0 (Plan 9) xxx") && label.endsWith(" (tab)") &&
        new TextEncoder().encode(label).length <= 64,
        "an agent not known is shown as itself, cut to fit 64 bytes (" + JSON.stringify(label) + ")");
    }
    await page.tap("#tabbtn-account");
    await page.waitFor("document.querySelector('#tokens td.label')?.textContent === " +
      JSON.stringify(label + " — this browser"), user + "'s device listed by its label");
    if (user === "bob") {
      await viewport(page, 390, 844);
      await page.eval("document.querySelector('#tokens').scrollIntoView()");
      await sleep(300);
      await page.shot("device-label-390");
    }
  }
  // The names of other browsers and systems, as the page words them.
  const page = await browser.page("words");
  await page.goto(process.env.WEB_URL);
  await page.waitFor("!document.querySelector('#login-view').hidden", "the login form");
  for (const [ua, want] of AGENTS) {
    const got = await page.eval("typeof deviceName === 'function' ? deviceName(" + JSON.stringify(ua) + ") : 'none'");
    check(got === want, want + " (" + got + ") from " + ua);
  }
};

// An error next to a form goes once its fields are changed: it told of
// what was there before.
SCENARIOS["form-errors-clear"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.tap("#tabbtn-send");
  await alice.typeInto("#send-to", "alice");
  await alice.typeInto("#send-amount", "5");
  await alice.tap("#send-form button[type=submit]");
  const err = (await alice.waitFor("document.querySelector('#send-form .error').textContent", "the send refused")).value;
  check(err === "Cannot send credits to yourself.", "Send to oneself is refused (" + err + ")");
  await alice.type("#send-to", "bob");
  await sleep(200);
  check(await alice.text("#send-form .error") === "", "changing the recipient clears the error");
  await alice.tap("#send-form button[type=submit]");
  await alice.waitFor("document.querySelector('#status').textContent === 'Sent 5 credits to bob.'", "the send");
  // A rule the server states for a field is said in the form's words.
  await alice.typeInto("#send-to", "bob");
  await alice.typeInto("#send-amount", "99999999999");
  await alice.tap("#send-form button[type=submit]");
  const big = (await alice.waitFor("document.querySelector('#send-form .error').textContent", "the huge amount refused")).value;
  check(big === "The amount must be a whole number from 1 to 1000000000.", "the amount's rule is in words (" + big + ")");

  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users list");
  await admin.typeInto("#useradd-user", "bad name");
  await admin.typeInto("#useradd-password", "pw");
  await admin.tap("#useradd-form button[type=submit]");
  await admin.waitFor("document.querySelector('#useradd-form .error').textContent", "the bad name refused");
  await admin.eval("(() => { const r = document.querySelector('#useradd-role'); r.value = 'admin';" +
    " r.dispatchEvent(new Event('change', { bubbles: true })); })()");
  check(await admin.text("#useradd-form .error") === "", "choosing another role clears the error");

  const PRICE3 = "#admin-machines input[aria-label='Price of slot 3']";
  const ROW3 = "document.querySelector(\"" + PRICE3 + "\").closest('tr')";
  await admin.tap("#tabbtn-admin-machines");
  await admin.waitFor("document.querySelector(\"" + PRICE3 + "\")", "the slot editor");
  await admin.type(PRICE3, "-5");
  await admin.eval(ROW3 + ".querySelector('button').click()");
  await admin.waitFor(ROW3 + ".querySelector('.error').textContent", "the bad price refused");
  await admin.type(PRICE3, "11");
  await sleep(200);
  check(await admin.eval(ROW3 + ".querySelector('.error').textContent") === "",
    "correcting the price clears the row's error");
};

// A page logged in by its kept token (a reload) binds a card only with
// the password (protocol: card_add): Add card asks for it in the form,
// with the number and label typed kept; a wrong one is said and cleared;
// the right one adds the card, and the next card of this page needs it no
// more.  A page logged in by the password is never asked.
SCENARIOS["card-add-after-reload"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await phone(alice, true);
  await alice.goto(process.env.WEB_URL);
  await alice.waitFor("!document.querySelector('#app-view').hidden && " +
    "document.querySelector('#user-name').textContent === 'alice'", "alice logged in again by the token");
  // The login shows its first tab once the machines are read: then Cards.
  const SHOWN = "document.querySelector('#tabbtn-machines')?.getAttribute('aria-current') === 'page'";
  await alice.waitFor(SHOWN, "alice's first tab");
  await alice.tap("#tabbtn-cards");
  await alice.waitFor("document.querySelector('#my-cards tbody td.hint')", "the empty card list");
  const FIELDS = ["#my-cards .card-uid", "#my-cards .card-label"];
  const ERR = "document.querySelector('#my-cards .error').textContent";
  const ASKED = "!document.querySelector('#my-cards .card-password-row').hidden";
  const SUBMIT = "#my-cards form button[type=submit]";
  await alice.typeInto(FIELDS[0], "04A2B3C4");
  await alice.typeInto(FIELDS[1], "fob");
  await alice.tap(SUBMIT);
  const asked = (await alice.waitFor(ERR, "the password asked for")).value;
  check(asked === "Enter your password to add a card: this browser stayed logged in without it.",
    "Add card asks for the password (" + asked + ")");
  check(await alice.eval(ASKED), "the password field shows");
  check(await alice.eval("document.activeElement === document.querySelector('#my-cards .card-password')"),
    "the password field has the focus");
  check(JSON.stringify(await values(alice, FIELDS)) === '["04A2B3C4","fob"]', "the number and label typed are kept");
  await alice.shot("card-password-asked");
  await alice.typeInto("#my-cards .card-password", "alicepw-not");
  await alice.tap(SUBMIT);
  const wrong = (await alice.waitFor(ERR, "the wrong password refused")).value;
  check(wrong === "Wrong password.", "a wrong password is said (" + wrong + ")");
  check(await alice.value("#my-cards .card-password") === "", "the wrong password is cleared");
  check(JSON.stringify(await values(alice, FIELDS)) === '["04A2B3C4","fob"]', "the number and label are still there");
  await alice.typeInto("#my-cards .card-password", "alicepw");
  await alice.tap(SUBMIT);
  await alice.waitFor("document.querySelector('#status').textContent === 'Card fob added.'", "the card added");
  await alice.waitFor("document.querySelectorAll('#my-cards tr[data-card-id]').length === 1", "the card's row");
  check(!(await alice.eval(ASKED)), "the password field is gone once the card is added");
  check(JSON.stringify(await values(alice, FIELDS.concat(["#my-cards .card-password"]))) === '["","",""]',
    "the form is empty once the card is added");
  // The server has seen the password: the next card needs it no more.
  await alice.typeInto(FIELDS[0], "04A2B3C5");
  await alice.tap(SUBMIT);
  await alice.waitFor("document.querySelectorAll('#my-cards tr[data-card-id]').length === 2", "the second card's row");
  check(!(await alice.eval(ASKED)), "the second card is added without asking");
  const sent = alice.sentCmd("card_add");
  check(sent.length === 4 && sent.map((m) => "password" in m).join() === "false,true,true,false",
    "card_add sent without, with a wrong, with the right and without a password (" +
    sent.map((m) => "password" in m).join() + ")");
  const bob = await loggedIn(browser, "bob", "bobpw");
  await bob.waitFor(SHOWN, "bob's first tab");
  await bob.tap("#tabbtn-cards");
  // The list drawn first: its row moves the form, and a tap meant for the
  // field would land beside it.
  await bob.waitFor("document.querySelector('#my-cards tbody td.hint')", "bob's empty card list");
  await bob.typeInto(FIELDS[0], "0B0B0B0B");
  await bob.tap(SUBMIT);
  await bob.waitFor("document.querySelectorAll('#my-cards tr[data-card-id]').length === 1", "bob's card's row");
  check(!(await bob.eval(ASKED)) && bob.sentCmd("card_add").length === 1,
    "a page logged in by the password adds a card without asking");
};

// History and the Log name a drop's machine as the machine list does
// ("Big Drink"), not by its id.
SCENARIOS["history-machine-names"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  await alice.tap(COLA);
  await alice.waitFor(BANNER + ".textContent.startsWith('Done')", "the Cola dropped", 15000);
  await alice.tap("#tabbtn-history");
  const WHAT = "(document.querySelector('#history tbody td.what') || {}).textContent";
  await alice.waitFor(WHAT + "?.startsWith('Cola')", "the Cola in History");
  const what = await alice.eval(WHAT);
  check(what === "Cola from Big Drink slot 3", "History names the machine (" + what + ")");
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-log");
  const LOG = "[...document.querySelectorAll('#log tbody td.what')].map((c) => c.textContent)" +
    ".find((t) => t.startsWith('Cola'))";
  await admin.waitFor(LOG, "the Cola in the Log");
  const logged = await admin.eval(LOG);
  check(logged === "Cola from Big Drink slot 3", "the Log names the machine (" + logged + ")");
};

// An admin's page logged in by its kept token (a reload) adds or changes a
// user only with the admin's password (protocol: user_add, user_mod): Add
// user asks for it in the form, with what was typed kept; a wrong one is
// said and cleared; the right one adds the user.  After another reload a
// row's Make admin asks for it under the list, and the page's next change
// needs it no more.  A page logged in by the password is never asked.
SCENARIOS["user-add-after-reload"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  const SHOWN = "document.querySelector('#tabbtn-machines')?.getAttribute('aria-current') === 'page'";
  const reload = async (what) => {
    await admin.goto(process.env.WEB_URL);
    await admin.waitFor("!document.querySelector('#app-view').hidden && " +
      "document.querySelector('#user-name').textContent === 'admin (admin)'", "admin logged in again by the token " + what);
    // The login shows its first tab once the machines are read: then Users.
    await admin.waitFor(SHOWN, "admin's first tab " + what);
    await admin.tap("#tabbtn-users");
    await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users list " + what);
  };
  await reload("after a reload");
  const FIELDS = ["#useradd-user", "#useradd-password", "#useradd-role", "#useradd-balance"];
  const ERR = "document.querySelector('#useradd-form .error').textContent";
  const ASKED = "!document.querySelector('#useradd-form .useradd-own-row').hidden";
  const SUBMIT = "#useradd-form button[type=submit]";
  await admin.typeInto(FIELDS[0], "carol");
  await admin.typeInto(FIELDS[1], "carolpw");
  await admin.eval("document.querySelector('#useradd-role').value = 'admin'");
  await admin.tap(SUBMIT);
  const asked = (await admin.waitFor(ERR, "the password asked for")).value;
  check(asked === "Enter your password to add a user: this browser stayed logged in without it.",
    "Add user asks for the password (" + asked + ")");
  check(await admin.eval(ASKED), "the password field shows");
  check(await admin.eval("document.activeElement === document.querySelector('#useradd-form .useradd-own')"),
    "the password field has the focus");
  const kept = '["carol","carolpw","admin","0"]';
  check(JSON.stringify(await values(admin, FIELDS)) === kept, "the new user's fields typed are kept");
  await admin.shot("useradd-password-asked");
  await admin.typeInto("#useradd-form .useradd-own", "adminpw-not");
  await admin.tap(SUBMIT);
  const wrong = (await admin.waitFor(ERR, "the wrong password refused")).value;
  check(wrong === "Wrong password.", "a wrong password is said (" + wrong + ")");
  check(await admin.value("#useradd-form .useradd-own") === "", "the wrong password is cleared");
  check(JSON.stringify(await values(admin, FIELDS)) === kept, "the new user's fields are still there");
  await admin.typeInto("#useradd-form .useradd-own", "adminpw");
  await admin.tap(SUBMIT);
  await admin.waitFor("document.querySelector('#status').textContent === 'User carol added.'", "carol added");
  await admin.waitFor("document.querySelector('#users tr[data-user=carol] td.role')?.textContent === 'admin'",
    "carol's row, an admin");
  check(!(await admin.eval(ASKED)), "the password field is gone once the user is added");
  check(JSON.stringify(await values(admin, FIELDS.concat(["#useradd-form .useradd-own"]))) ===
    '["","","member","0",""]', "the form is empty once the user is added");
  const added = admin.sentCmd("user_add");
  check(added.length === 3 && added.map((m) => "your_password" in m).join() === "false,true,true",
    "user_add sent without, with a wrong and with the right password (" +
    added.map((m) => "your_password" in m).join() + ")");

  // A row's change after another reload: asked for under the list.
  await reload("once more");
  const ROW_ASKED = "!document.querySelector('.users-own-row').hidden";
  const MAKE = "#users button[aria-label='Make alice an admin']";
  check(!(await admin.eval(ROW_ASKED)), "no password asked for before a change");
  await admin.tap(MAKE);
  const said = (await admin.waitFor("document.querySelector('#status').textContent", "the password asked for")).value;
  check(said === "Enter your password to change a user: this browser stayed logged in without it. " +
    "Then press the button again.", "Make admin asks for the password (" + said + ")");
  check(await admin.eval(ROW_ASKED), "the password field shows under the list");
  check(await admin.eval("document.activeElement === document.querySelector('.users-own')"),
    "the password field has the focus");
  check(await admin.eval("document.querySelector('#users tr[data-user=alice] td.role').textContent") === "member",
    "alice is still a member");
  await admin.typeInto(".users-own", "adminpw");
  await admin.tap(MAKE);
  await admin.waitFor("document.querySelector('#users tr[data-user=alice] td.role')?.textContent === 'admin'",
    "alice made an admin");
  check(!(await admin.eval(ROW_ASKED)), "the password field is gone once the change is made");
  await admin.tap("#users button[aria-label='Disable bob']");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob] td.ustate')?.textContent === 'disabled'",
    "bob disabled without asking");
  const mods = admin.sentCmd("user_mod");
  check(mods.length === 3 && mods.map((m) => "your_password" in m).join() === "false,true,false",
    "user_mod sent without, with and without the password (" + mods.map((m) => "your_password" in m).join() + ")");

  const other = await loggedIn(browser, "admin", "adminpw", "admin by password");
  await other.waitFor(SHOWN, "the other page's first tab");
  await other.tap("#tabbtn-users");
  await other.waitFor("document.querySelector('#users tr[data-user=bob]')", "the other page's users list");
  await other.tap("#users button[aria-label='Enable bob']");
  await other.waitFor("document.querySelector('#users tr[data-user=bob] td.ustate')?.textContent === 'active'",
    "bob enabled");
  check(!(await other.eval(ROW_ASKED)) && other.sentCmd("user_mod").length === 1,
    "a page logged in by the password changes a user without asking");
};

// An admin's page logged in by its kept token (a reload) changes a machine
// only with the admin's password (protocol: machine_mod): Set up's Rename
// asks for it under the machines, with the name typed kept; pressed again
// with it, the machine is renamed, and the page's next change (a Switch
// off) needs it no more.
SCENARIOS["setup-after-reload"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.goto(process.env.WEB_URL);
  await admin.waitFor("!document.querySelector('#app-view').hidden && " +
    "document.querySelector('#user-name').textContent === 'admin (admin)'", "admin logged in again by the token");
  await admin.waitFor("document.querySelector('#tabbtn-machines')?.getAttribute('aria-current') === 'page'",
    "admin's first tab");
  await admin.tap("#tabbtn-admin-machines");
  const CARD = "#admin-machines article[data-machine=m1]";
  const NAME = CARD + " input[aria-label='Display name of m1']";
  const RENAME = CARD + " > .row:first-child > button:nth-of-type(1)";
  const SWITCH = CARD + " > .row:first-child > button:nth-of-type(2)";
  const ASKED = "!document.querySelector('.machines-own-row').hidden";
  await admin.waitFor("document.querySelector(\"" + NAME + "\")", "m1's card");
  check(!(await admin.eval(ASKED)), "no password asked for before a change");
  await admin.type(NAME, "Bigger Drink");
  await admin.tap(RENAME);
  const said = (await admin.waitFor("document.querySelector('#status').textContent", "the password asked for")).value;
  check(said === "Enter your password to change a machine: this browser stayed logged in without it. " +
    "Then press the button again.", "Rename asks for the password (" + said + ")");
  check(await admin.eval(ASKED), "the password field shows under the machines");
  check(await admin.eval("document.activeElement === document.querySelector('.machines-own')"),
    "the password field has the focus");
  check(await admin.value(NAME) === "Bigger Drink", "the name typed is kept");
  await admin.shot("setup-password-asked");
  await admin.typeInto(".machines-own", "adminpw");
  await admin.tap(RENAME);
  await admin.waitFor("document.querySelector('#status').textContent === 'Machine m1 updated.'", "m1 renamed");
  await admin.waitFor("document.querySelector(\"#machines article[data-machine=m1] h2\")?.textContent === " +
    "'Bigger Drink'", "the machine list to name m1 Bigger Drink");
  check(!(await admin.eval(ASKED)), "the password field is gone once the change is made");
  await admin.tap(SWITCH);
  await admin.waitFor("document.querySelector('#status').textContent === 'Machine m1 switched off.'",
    "m1 switched off without asking");
  const mods = admin.sentCmd("machine_mod");
  check(mods.length === 3 && mods.map((m) => "your_password" in m).join() === "false,true,false",
    "machine_mod sent without, with and without the password (" + mods.map((m) => "your_password" in m).join() + ")");
};

// The password a reloaded admin's page asked for under Users and Set up
// goes with a logout: the next person at the browser finds no field
// asking for the last one's password, nor what was typed in it.
SCENARIOS["own-password-gone-after-logout"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.goto(process.env.WEB_URL);
  await admin.waitFor("!document.querySelector('#app-view').hidden && " +
    "document.querySelector('#user-name').textContent === 'admin (admin)'", "admin logged in again by the token");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=alice]')", "the users list");
  await admin.tap("#users button[aria-label='Make alice an admin']");
  await admin.waitFor("!document.querySelector('.users-own-row').hidden", "the password asked for under Users");
  await admin.typeInto(".users-own", "half-typed");
  await admin.tap("#tabbtn-admin-machines");
  await admin.waitFor("document.querySelector('#admin-machines article[data-machine=m1]')", "m1's card");
  await admin.tap("#admin-machines article[data-machine=m1] > .row:first-child > button:nth-of-type(2)");
  await admin.waitFor("!document.querySelector('.machines-own-row').hidden", "the password asked for under Set up");
  await admin.typeInto(".machines-own", "half-typed");
  await admin.tap("#logout");
  await admin.waitFor("!document.querySelector('#login-view').hidden", "the login form");
  await admin.type("#login-user", "admin");
  await admin.type("#login-password", "adminpw");
  await admin.tap("#login-submit");
  await admin.waitFor("document.querySelector('#user-name').textContent === 'admin (admin)'", "admin logged in");
  for (const [tab, cls] of [["users", "users-own"], ["admin-machines", "machines-own"]]) {
    await admin.tap("#tabbtn-" + tab);
    await sleep(300);
    check(await admin.eval("document.querySelector('." + cls + "-row').hidden && " +
      "document.querySelector('." + cls + "').value === ''"),
      "no password field left under " + tab + ", and nothing typed in it");
  }
  await admin.shot("own-password-gone");
};

// A refusal that begins with a user's name keeps the name as it is
// written: the last admin made a member reads "admin is the last admin;
// ...", not "Admin is ...", which is no one's name.  A refusal in the
// server's own words still begins with a capital.
SCENARIOS["message-keeps-name"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=admin]')", "the users list");
  await admin.tap("#users button[aria-label='Make admin a member']");
  const said = (await admin.waitFor("document.querySelector('#status').textContent", "the refusal")).value;
  check(said === "admin is the last admin; make another admin first.",
    "the refusal names admin as written (" + said + ")");
  check(await admin.text("#users tr[data-user=admin] td.role") === "admin", "admin is still an admin");
  await admin.tap("#tabbtn-send");
  await admin.typeInto("#send-to", "admin");
  await admin.typeInto("#send-amount", "1");
  await admin.tap("#send-form button[type=submit]");
  const own = (await admin.waitFor("document.querySelector('#send-form .error').textContent", "the send refused")).value;
  check(own === "Cannot send credits to yourself.", "the server's own words begin with a capital (" + own + ")");
};

// A list that cannot be read says so in its tab, with a Try again that
// reads it once the server can: History, Account's devices and Users
// while drinkd's database cannot be read (tests/shim/fault.c: "read"),
// and Online when the connection is lost as it is asked for (a reconnect
// then reads it anew).  Nothing passes for a list read just now.
SCENARIOS["reads-failed-told"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.waitFor("document.querySelector('#tabbtn-machines')?.getAttribute('aria-current') === 'page'",
    "admin's first tab");
  // A commit makes every reader's cached pages stale: the reads go to the disk.
  await admin.tap("#tabbtn-send");
  await admin.typeInto("#send-to", "alice");
  await admin.typeInto("#send-amount", "1");
  await admin.tap("#send-form button[type=submit]");
  await admin.waitFor("document.querySelector('#status').textContent === 'Sent 1 credits to alice.'", "the send");
  fs.writeFileSync(process.env.FAULT_FILE, "read\n");
  const FAILED = (list) => "document.querySelector('" + list + " td.read-failed')?.textContent";
  for (const [tab, list, what] of [["history", "#history", "your history"],
    ["account", "#tokens", "your logged-in devices"], ["users", "#users", "the users"]]) {
    await admin.tap("#tabbtn-" + tab);
    const said = (await admin.waitFor(FAILED(list), what + " refused")).value;
    check(said === "Could not read " + what + ". The server had a problem. Try again",
      tab + " says it could not read " + what + " (" + said + ")");
    check(await admin.eval("document.querySelectorAll('" + list + " tbody tr').length") === 1,
      tab + " shows nothing else");
  }
  await admin.shot("reads-failed-users");
  fs.unlinkSync(process.env.FAULT_FILE);
  await admin.tap("#users td.read-failed button");
  await admin.waitFor("document.querySelector('#users tr[data-user=bob]')", "the users read again by Try again");
  check(!(await admin.eval(FAILED("#users"))), "the failure is gone once the users are read");

  await admin.tap("#tabbtn-online");
  await admin.waitFor("document.querySelector('#online tbody button')", "who is online");
  await admin.eval("conn.ws.close(); loadOnline()");
  const said = (await admin.waitFor(FAILED("#online"), "who is online refused")).value;
  check(said === "Could not read who is online. The connection to the server was lost. Try again",
    "Online says it could not read who is online (" + said + ")");
  await admin.waitFor("document.querySelector('#online tbody button[aria-label^=Kick]')",
    "who is online read again once reconnected", 10000);
};

// A member whose account an admin disables while they are logged in is
// told so on the login form, from the reason the server closed their
// connection with, not just asked to log in again; logging in is then
// refused as any wrong login is (the server does not say the account is
// there).
SCENARIOS["disabled-told"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  const admin = await loggedIn(browser, "admin", "adminpw");
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=alice]')", "the users list");
  await admin.tap("#users button[aria-label='Disable alice']");
  await admin.waitFor("document.querySelector('#users tr[data-user=alice] td.ustate')?.textContent === 'disabled'",
    "alice disabled");
  const note = (await alice.waitFor("!document.querySelector('#login-view').hidden && " +
    "document.querySelector('#login-note').textContent", "alice's login form", 10000)).value;
  check(note === "Your account was disabled or changed by an admin; log in again, or ask an admin.",
    "alice is told why she must log in again (" + note + ")");
  await alice.shot("disabled-told");
  await alice.eval("document.querySelector('#login-user').value = 'alice'");
  await alice.typeInto("#login-password", "alicepw");
  await alice.tap("#login-submit");
  const err = (await alice.waitFor("document.querySelector('#login-error').textContent", "the login refused")).value;
  check(err === "Wrong user or password.", "the login is refused as a wrong one (" + err + ")");
};

// A member whose page's login ends from another of their sessions is
// told why on the login form: their password changed there (which
// revoked this page's token), or this page's login revoked in Devices
// (which ends a session its token logged in: here after a reload).
SCENARIOS["closed-why-told"] = async (browser) => {
  const NOTE = "!document.querySelector('#login-view').hidden && document.querySelector('#login-note').textContent";
  const first = await loggedIn(browser, "alice", "alicepw", "first");
  const other = await loggedIn(browser, "alice", "alicepw", "other");
  check(await other.eval("call('passwd', { old: 'alicepw', new: 'alicepw2' }).then((r) => r.ok)"),
    "alice's password changed in the other page");
  const changed = (await first.waitFor(NOTE, "the first page's login form", 10000)).value;
  check(changed === "Your password was changed in another session; log in with the new one.",
    "the first page says the password changed (" + changed + ")");
  await first.shot("password-changed-told");

  // Reloaded: logged in by its token, which a revocation then ends.
  const third = await loggedIn(browser, "alice", "alicepw2", "third");
  await third.goto(process.env.WEB_URL);
  await third.waitFor("!document.querySelector('#app-view').hidden && " +
    "document.querySelector('#user-name').textContent === 'alice'", "the third page logged in again by its token");
  const id = await third.eval("myTokenId()");
  check(typeof id === "number" && id > 0, "the third page has a token (" + id + ")");
  check(await other.eval("call('token_revoke', { token_id: " + id + " }).then((r) => r.ok)"),
    "the third page's token revoked from the other page");
  const revoked = (await third.waitFor(NOTE, "the third page's login form", 10000)).value;
  check(revoked === "This browser's login was revoked from another device; log in again.",
    "the third page says its login was revoked (" + revoked + ")");
  check(await other.eval("document.querySelector('#login-view').hidden"),
    "the page that revoked it is still logged in");
};

// A person who taps Cards and types a card number the moment the login
// lets them, on a phone, finds what they typed in the field: the form
// does not move from under the finger while they aim at it, though the
// list of cards drawn above it comes only after the login's own requests
// (the machines and each one's slots) have been answered.
SCENARIOS["type-after-login"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  check(await admin.eval("Promise.all([...Array(80).keys()].map((i) => call('machine_add', { machine: 'x' + i, name: 'X ' + i })" +
    ".then(() => call('slot_set', { machine: 'x' + i, slot: 1, item: 'Tea', price: 2, stock: 3 }))))" +
    ".then((l) => l.every((r) => r.ok))"), "80 machines more, so a login has more to read");
  check(await admin.eval("Promise.all(['0B0B0B01', '0B0B0B02'].map((c) => call('card_add', { user: 'bob', card: c })))" +
    ".then((l) => l.every((r) => r.ok))"), "two cards of bob's");
  // alice has no card, bob two: the list above the form is one row or two.
  for (const [user, password, uid] of [["alice", "alicepw", "04A2B3C4"], ["bob", "bobpw", "0B0B0B03"]]) {
    const page = await browser.page(user);
    await phone(page, true);
    await (await login(page, user, password, false))();
    await page.tap("#tabbtn-cards");
    await page.typeInto("#my-cards .card-uid", uid, 250);
    await page.typeInto("#my-cards .card-label", "fob", 250);
    const v = await values(page, ["#my-cards .card-uid", "#my-cards .card-label"]);
    await page.shot("type-after-login-" + user);
    check(v[0] === uid && v[1] === "fob", user + "'s card number and label, typed at once after the " +
      "login, are in their fields (" + JSON.stringify(v) + ")");
    check(await page.eval("document.querySelector('#tabbtn-cards').getAttribute('aria-current')") === "page",
      user + "'s Cards tab is the one shown");
    await page.tap("#my-cards form button[type=submit]");
    await page.waitFor("document.querySelector('#status').textContent === 'Card fob added.'", user + "'s card added");
  }
  // The same for an admin's Add a user, under the list of users.
  const second = await browser.page("admin on a phone");
  await phone(second, true);
  await (await login(second, "admin", "adminpw", false))();
  await second.tap("#tabbtn-users");
  await second.typeInto("#useradd-user", "carol", 250);
  await second.typeInto("#useradd-password", "carolpw", 250);
  const v = await values(second, ["#useradd-user", "#useradd-password"]);
  await second.shot("type-after-login-admin");
  check(v.join() === "carol,carolpw", "the user name and password typed at once after the login are in their " +
    "fields (" + v + ")");
};

// While storage fails, drinkd refuses a change with unavailable and
// retry_after (nothing was changed): the member is told so in words, and
// when to try again, for a drop and for a form; the Drop button and the
// form's button work again at once, and once storage is back a drop goes
// through.  ($FAULT_FILE is drinkd's fault switch: tests/shim/fault.c.)
SCENARIOS["unavailable-told"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await phone(alice, true);
  const COLA = MACHINE + " button.drop[data-slot='3']";
  await alice.waitFor("document.querySelector(\"" + COLA + "\") && !document.querySelector(\"" + COLA + "\").disabled",
    "Cola's Drop on");
  fs.writeFileSync(process.env.FAULT_FILE, "full\n");
  // A write meets the fault: then writes are refused, a probe let through
  // every 2 s.
  const refused = await alice.waitFor("call('send', { to: 'bob', amount: 1 })" +
    ".then((r) => r.error === 'unavailable' ? r : null)", "a change refused with unavailable");
  check(refused.value.retry_after >= 1, "unavailable carries retry_after (" + refused.value.retry_after + ")");
  const WAIT = /^The server cannot save changes just now; nothing was changed\. Try again in [1-9][0-9]* seconds?\.$/;
  const DROP_STATUS = "document.querySelector('#drop-status').textContent";
  // (A tap may be the probe, which meets the fault: tap again.)
  let told = "";
  for (let i = 0; i < 10 && !/Try again/.test(told); i++) {
    await alice.tap(COLA);
    await alice.waitFor("!document.querySelector('#drop-status').classList.contains('busy')", "the drop's answer");
    told = await alice.eval(DROP_STATUS);
    if (!/Try again/.test(told)) await sleep(300);
  }
  await alice.shot("unavailable-drop");
  check(WAIT.test(told.replace(/^Cola: /, "")), "the refused drop says why and when to try again (" + told + ")");
  check(await alice.eval("!document.querySelector(\"" + COLA + "\").disabled && " +
    "!document.querySelector(\"" + COLA + "\").closest('li').querySelector('.why')"),
    "Cola's Drop is on again, nothing under it");

  await alice.tap("#tabbtn-send");
  await alice.typeInto("#send-to", "bob");
  await alice.typeInto("#send-amount", "5");
  const ERR = "document.querySelector('#send-form .error').textContent";
  let err = "";
  for (let i = 0; i < 10 && !/Try again/.test(err); i++) {
    await alice.tap("#send-form button[type=submit]");
    err = (await alice.waitFor(ERR, "the send's answer")).value;
    if (!/Try again/.test(err)) await sleep(300);
  }
  await alice.shot("unavailable-send");
  check(WAIT.test(err), "the refused send says why and when to try again (" + err + ")");
  check(!(await alice.eval("document.querySelector('#send-form button[type=submit]').disabled")) &&
    (await values(alice, ["#send-to", "#send-amount"])).join() === "bob,5",
    "Send is on again, with what was typed kept for the retry");

  fs.unlinkSync(process.env.FAULT_FILE);
  await alice.tap("#tabbtn-machines");
  // The next probe commits and ends the episode: a drop then goes through.
  let done = "";
  for (let i = 0; i < 10 && !done.startsWith("Done"); i++) {
    await sleep(1000);
    await alice.tap(COLA);
    await alice.waitFor("!document.querySelector('#drop-status').classList.contains('busy')", "the drop's answer", 30000);
    done = await alice.eval(DROP_STATUS);
  }
  check(done.startsWith("Done: Cola dropped"), "once storage is back the drop goes through (" + done + ")");
};

// An admin on a phone who taps a user's Cards… sees the panel it opens:
// it opens below the whole list of users, which is longer than the
// screen, and is brought into sight (as the balance form is, by its
// focused field), its title clear of the status line.
SCENARIOS["user-cards-in-sight"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  for (let i = 1; i <= 8; i++) {
    check(await admin.eval("call('user_add', { user: 'user" + i + "', password: 'pw" + i + "' }).then((r) => r.ok)"),
      "user" + i + " added");
  }
  await phone(admin, true);
  await admin.tap("#tabbtn-users");
  await admin.waitFor("document.querySelector('#users tr[data-user=user8]')", "the users list");
  const SIGHT = "(() => { const t = document.querySelector('#user-cards-title').getBoundingClientRect();" +
    " const s = document.querySelector('#status').getBoundingClientRect();" +
    " return t.height > 0 && t.top >= Math.max(0, s.bottom) && t.bottom <= innerHeight; })()";
  for (const who of ["alice", "user3"]) {
    await admin.tap("#users tr[data-user=" + who + "] button.cards");
    await admin.waitFor("document.querySelector('#user-cards-box tbody td.hint')", who + "'s cards");
    await sleep(300);
    await admin.shot("user-cards-in-sight-" + who);
    const where = await admin.eval("Math.round(document.querySelector('#user-cards-title').getBoundingClientRect().top)" +
      " + ' of ' + innerHeight");
    check(await admin.eval(SIGHT), "at 390 px the Cards of " + who + " panel is in sight once opened (its title at " +
      where + ")");
    check(await admin.text("#user-cards-title") === "Cards of " + who, "the panel is " + who + "'s");
  }
};

// The next person to log in at a browser (a shared phone, a kiosk)
// finds nothing shown to the last one: not how their drop ended, with
// their balance, on the Machines tab, nor their history, devices or
// cards in the tabs theirs are read into.
SCENARIOS["next-user-clean"] = async (browser) => {
  const page = await loggedIn(browser, "alice", "alicepw", "shared");
  await phone(page, true);
  await page.tap(MACHINE + " button.drop[data-slot='3']");
  await page.waitFor("document.querySelector('#drop-status').textContent.startsWith('Done')", "alice's drop done");
  check(await page.eval("call('card_add', { card: '0A0A0A0A', label: 'alice fob' }).then((r) => r.ok)"), "a card of alice's");
  for (const t of ["history", "cards", "account"]) {
    await page.tap("#tabbtn-" + t);
    await sleep(300);
  }
  check(await page.eval("document.querySelector('#history tbody').textContent.includes('Cola') &&" +
    " document.querySelector('#my-cards tbody').textContent.includes('alice fob')"),
    "alice's History shows her Cola, and Cards her card");
  await page.tap("#tabbtn-machines");
  await page.tap("#logout");
  await page.waitFor("!document.querySelector('#login-view').hidden", "the login form");
  await page.type("#login-user", "bob");
  await page.type("#login-password", "bobpw");
  await page.tap("#login-submit");
  await page.waitFor("document.querySelector('#user-name').textContent === 'bob'", "bob logged in");
  await page.shot("next-user-machines");
  const left = await page.eval("(() => { const d = document.querySelector('#drop-status');" +
    " return [d.hidden ? '' : d.textContent, document.querySelector('#history tbody').textContent," +
    " document.querySelector('#tokens tbody').textContent," +
    " [...document.querySelectorAll('#my-cards tr[data-card-id]')].map((r) => r.textContent).join()]" +
    ".filter((t) => t).join(' | '); })()");
  check(left === "", "bob's screens hold nothing of alice's (" + left + ")");
};

// A card's Remove refused (here while storage fails) tells why where a
// person on a phone sees it: the Remove is in the list, above the Add a
// card form, whose own error line is then below the screen's edge.
SCENARIOS["card-remove-refused"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  await phone(alice, true);
  check(await alice.eval("Promise.all(['0A0A0A01', '0A0A0A02', '0A0A0A03', '0A0A0A04', '0A0A0A05'].map((c, i) =>" +
    " call('card_add', { card: c, label: 'fob ' + i }))).then((l) => l.every((r) => r.ok))"), "five cards of alice's");
  await alice.tap("#tabbtn-cards");
  await alice.waitFor("document.querySelectorAll('#my-cards tr[data-card-id]').length === 5", "alice's cards");
  fs.writeFileSync(process.env.FAULT_FILE, "full\n");
  await alice.waitFor("call('send', { to: 'bob', amount: 1 }).then((r) => r.error === 'unavailable')",
    "a change refused with unavailable");
  // The refusal, wherever it is written, and whether it is in sight.
  const TOLD = "(() => { const e = [document.querySelector('#status'), document.querySelector('#my-cards .error')]" +
    ".find((x) => x.textContent.includes('Try again in')); if (!e) return null;" +
    " const r = e.getBoundingClientRect(); return { text: e.textContent, seen: r.top >= 0 && r.bottom <= innerHeight }; })()";
  let told = null;
  for (let i = 0; i < 10 && !told; i++) {
    await alice.tap("#my-cards tr[data-card-id] button");
    await sleep(300);
    told = await alice.eval(TOLD);
  }
  await alice.shot("card-remove-refused");
  check(told !== null, "the refused Remove is told");
  check(told.seen, "the refused Remove is told in sight at 390 px (" + told.text + ")");
  check(await alice.eval("document.querySelectorAll('#my-cards tr[data-card-id]').length") === 5,
    "the card is still listed");
  fs.unlinkSync(process.env.FAULT_FILE);
};

// A login while storage fails is answered, but its token cannot be
// written: the member who ticked "Stay logged in" is told that this
// browser did not keep the login, rather than meet the login form,
// unexplained, at the next reload.
SCENARIOS["stay-not-kept"] = async (browser) => {
  const bob = await loggedIn(browser, "bob", "bobpw");
  fs.writeFileSync(process.env.FAULT_FILE, "full\n");
  await bob.waitFor("call('token_create', { label: 'probe', days: 1 }).then((r) => r.error === 'unavailable')",
    "a change refused with unavailable");
  const alice = await browser.page("alice");
  await phone(alice, true);
  await (await login(alice, "alice", "alicepw", true))();
  await alice.waitFor("document.querySelector('#tabbtn-machines').getAttribute('aria-current') === 'page'",
    "alice's first tab");
  const status = await alice.text("#status");
  await alice.shot("stay-not-kept");
  check(!(await alice.eval("localStorage.getItem('drink.token')")), "no token was kept");
  check(/could not keep the login/.test(status) && /password/.test(status),
    "alice is told the login was not kept, and what a reload will ask (" + status + ")");
  fs.unlinkSync(process.env.FAULT_FILE);
};

// A login locked after failures says when to try again, in words: the
// first lock is 1 second, "1 second", not "1 seconds".
SCENARIOS["locked-out-told"] = async (browser) => {
  const page = await browser.page("bob");
  await phone(page, true);
  await page.goto(process.env.WEB_URL);
  await page.waitFor("!document.querySelector('#login-view').hidden", "the login form");
  await page.type("#login-user", "bob");
  const ERR = "document.querySelector('#login-error').textContent";
  let err = "";
  for (let i = 0; i < 8 && !/Too many/.test(err); i++) {
    await page.type("#login-password", "wrong" + i);
    await page.tap("#login-submit");
    err = (await page.waitFor(ERR, "the login's answer")).value;
  }
  await page.shot("locked-out-told");
  check(/^Too many failed logins\. Try again in 1 second\.$/.test(err), "the locked login says its wait (" + err + ")");
};

// Set up's field for a new slot says on screen what goes in it: on a
// phone it is an empty box beside Add slot, under the slots' rows, which
// could as well be for an item's name.
SCENARIOS["new-slot-labelled"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await phone(admin, true);
  await admin.tap("#tabbtn-admin-machines");
  const NEWSLOT = "#admin-machines article[data-machine=m1] input[aria-label='New slot number']";
  await admin.waitFor("document.querySelector(\"" + NEWSLOT + "\")", "the slot editor");
  const shown = await admin.eval("(() => { const i = document.querySelector(\"" + NEWSLOT + "\");" +
    " i.scrollIntoView({ block: 'center' }); const l = i.labels[0]; if (!l) return '';" +
    " const r = l.getBoundingClientRect(), ir = i.getBoundingClientRect();" +
    " return r.width > 0 && Math.abs((r.top + r.bottom) / 2 - (ir.top + ir.bottom) / 2) < ir.height ?" +
    " l.textContent.trim() : ''; })()");
  await admin.shot("new-slot-labelled");
  check(/slot number/i.test(shown), "the new slot's field is labelled beside it (" + JSON.stringify(shown) + ")");
  await admin.typeInto(NEWSLOT, "7");
  await admin.typeInto("#admin-machines article[data-machine=m1] input[aria-label=\"New slot's item\"]", "Tea");
  await admin.typeInto("#admin-machines article[data-machine=m1] input[aria-label=\"New slot's price\"]", "3");
  await admin.tap("#admin-machines article[data-machine=m1] .row:last-child button");
  await admin.waitFor("document.querySelector('#status').textContent === 'Slot 7 added.'", "slot 7 added");
};

// Add slot with the number of a slot the machine has already changes
// nothing and says so: the server's slot_set would change that slot, so
// "Slot 3 added." would not be true.  A new slot needs its item and price
// (the server refuses one without): said before asking.
SCENARIOS["add-slot-that-exists"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await phone(admin, true);
  await admin.tap("#tabbtn-admin-machines");
  const M1 = "#admin-machines article[data-machine=m1]";
  const NEWSLOT = M1 + " input[aria-label='New slot number']";
  await admin.waitFor("document.querySelector(\"" + M1 + " tr[data-slot='3']\")", "the slot editor with slot 3");
  await admin.typeInto(NEWSLOT, "3");
  await admin.tap(M1 + " .row:last-child button");
  const said = (await admin.waitFor("document.querySelector('#status').textContent", "the outcome of Add slot")).value;
  await admin.shot("add-slot-that-exists");
  check(said === "Slot 3 of Big Drink is already set up; change it in its row.",
    "Add slot for slot 3 says it is there already (" + JSON.stringify(said) + ")");
  check(await admin.eval("document.querySelectorAll(\"" + M1 + " tr[data-slot='3']\").length") === 1,
    "slot 3 has still one row");
  check(await admin.value(NEWSLOT) === "3", "the number typed is kept, to be corrected");
  // A new number without an item or a price is not sent.
  await admin.eval("document.querySelector(\"" + NEWSLOT + "\").value = '7'");
  await admin.tap(M1 + " .row:last-child button");
  await admin.waitFor("document.querySelector('#status').textContent === " +
    "'A new slot needs its item and a price (a whole number).'", "Add slot without an item saying what it needs");
  check(admin.sentCmd("slot_set").length === 0, "nothing was sent");
  // With them, it is added, and its row shows them.
  await admin.typeInto(M1 + " input[aria-label=\"New slot's item\"]", "Tea");
  await admin.typeInto(M1 + " input[aria-label=\"New slot's price\"]", "3");
  await admin.tap(M1 + " .row:last-child button");
  await admin.waitFor("document.querySelector('#status').textContent === 'Slot 7 added.'", "slot 7 added");
  check(await admin.value(M1 + " input[aria-label='Item in slot 7']") === "Tea", "slot 7's row shows its item");
  check(await admin.value(M1 + " input[aria-label='Price of slot 7']") === "3", "slot 7's row shows its price");
};

// A finger's tap on Drop counts though the machine list is redrawn while
// the finger is down: machines' and slots' events redraw it at any time
// (a temperature report, another member's drop, an admin's change), and
// a tap lasts a tenth of a second or so.
SCENARIOS["drop-tap-during-redraw"] = async (browser) => {
  const alice = await loggedIn(browser, "alice", "alicepw");
  const admin = await loggedIn(browser, "admin", "adminpw");
  await phone(alice, true);
  await alice.waitFor(ONLINE + " === 'online'", "m1 online");
  const COLA = MACHINE + " button.drop[data-slot='3']";
  const at = await alice.eval("(() => { const r = document.querySelector(\"" + COLA + "\").getBoundingClientRect();" +
    " return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()");
  const base = { x: at.x, y: at.y, button: "left", clickCount: 1 };
  await alice.send("Input.dispatchMouseEvent", Object.assign({ type: "mousePressed" }, base));
  // While the finger is down, an admin's change to another machine's slot
  // comes to alice's page as an event, which redraws the list.
  check(await admin.eval("call('slot_set', { machine: 'm2', slot: 1, stock: 9 }).then((r) => r.ok)"), "m2's stock changed");
  await alice.waitFor("[...document.querySelectorAll('.machine[data-machine=m2] .stock')].some((e) => e.textContent === '9 left')",
    "the list redrawn with m2's new stock");
  await alice.send("Input.dispatchMouseEvent", Object.assign({ type: "mouseReleased" }, base));
  await sleep(500);
  const told = await alice.eval("document.querySelector('#drop-status').hidden ? '' : document.querySelector('#drop-status').textContent");
  await alice.shot("drop-tap-during-redraw");
  check(told !== "" && alice.sentCmd("drop").length === 1, "the tap made a drop (" + told + ")");
  await alice.waitFor("document.querySelector('#drop-status').textContent.startsWith('Done')", "the Cola dropped", 15000);
};

// The same for Kick on the Online tab, which is redrawn whenever anyone
// logs in or out: a finger down on a session's Kick when another login
// redraws the list still kicks that session, and only it.
SCENARIOS["kick-tap-during-redraw"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  const bob = await loggedIn(browser, "bob", "bobpw");
  // What bob's status line says, each time: told of the close at once
  // (the server's close frame), the page is back within a second.
  await bob.eval("window.statusSeen = []; new MutationObserver(() => statusSeen.push(" +
    "document.querySelector('#status').textContent)).observe(document.querySelector('#status')," +
    " { childList: true, characterData: true, subtree: true }); true");
  await phone(admin, true);
  await admin.tap("#tabbtn-online");
  const BOB = "[...document.querySelectorAll('#online tbody tr')].find((r) => r.querySelector('.label').textContent === 'bob')";
  await admin.waitFor(BOB, "bob online");
  const rows = await admin.eval("document.querySelectorAll('#online tbody tr').length");
  const bobSession = Number(await admin.eval(BOB + ".cells[0].textContent"));
  const at = await admin.eval("(() => { const b = " + BOB + ".querySelector('button'); b.scrollIntoView({ block: 'center' });" +
    " const r = b.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()");
  const base = { x: at.x, y: at.y, button: "left", clickCount: 1 };
  await admin.send("Input.dispatchMouseEvent", Object.assign({ type: "mousePressed" }, base));
  // While the finger is down, alice logs in: the list is redrawn.
  await loggedIn(browser, "alice", "alicepw");
  await admin.waitFor("document.querySelectorAll('#online tbody tr').length === " + (rows + 1), "the list redrawn with alice");
  await admin.send("Input.dispatchMouseEvent", Object.assign({ type: "mouseReleased" }, base));
  // Asked first (and answered yes), about bob's session.
  await admin.waitFor("document.querySelector('#status').textContent === 'Session " + bobSession + " closed.'",
    "the kick told");
  check(admin.asked.length === 1 && admin.asked[0].startsWith("Kick session " + bobSession + " (bob "),
    "the tap asked about bob's session (" + JSON.stringify(admin.asked) + ")");
  const kicks = admin.sentCmd("kick").map((k) => k.session);
  check(kicks.length === 1 && kicks[0] === bobSession, "the tap kicked bob's session " + bobSession +
    ", once (" + kicks + ")");
  await bob.waitFor("statusSeen.some((t) => t.startsWith('Connection lost'))", "bob's page cut off");
};

// Kick asks first, as drink kick does, naming the session it would end;
// cancelled, nothing is sent.  This page's own session is not kicked: it
// would only cut the page off, which then logs in again.
SCENARIOS["kick-asks"] = async (browser) => {
  const admin = await loggedIn(browser, "admin", "adminpw");
  await loggedIn(browser, "bob", "bobpw");
  await admin.tap("#tabbtn-online");
  const ROW = (who) => "[...document.querySelectorAll('#online tbody tr')].find((r) => r.querySelector('.label').textContent === '" +
    who + "')";
  await admin.waitFor(ROW("bob"), "bob online");
  const bobSession = Number(await admin.eval(ROW("bob") + ".cells[0].textContent"));
  admin.dialogAnswer = null;
  await admin.tap("#online button[data-session='" + bobSession + "']");
  await sleep(500);
  check(admin.asked.length === 1 && admin.asked[0] === "Kick session " + bobSession + " (bob from 127.0.0.1)?",
    "Kick asks first, naming the session (" + JSON.stringify(admin.asked) + ")");
  check(admin.sentCmd("kick").length === 0, "a Kick not confirmed sends nothing");
  check(await admin.eval(ROW("bob") + " !== undefined"), "bob is still online");
  admin.dialogAnswer = "";
  await admin.tap("#online button[data-session='" + bobSession + "']");
  await admin.waitFor("document.querySelector('#status').textContent === 'Session " + bobSession + " closed.'",
    "the kick told");
  check(admin.sentCmd("kick").length === 1, "a Kick confirmed is sent once");
  // The admin's own row: said so, nothing asked, nothing sent.
  const asked = admin.asked.length;
  await admin.waitFor(ROW("admin"), "this page's session listed");
  const mine = Number(await admin.eval(ROW("admin") + ".cells[0].textContent"));
  await admin.tap("#online button[data-session='" + mine + "']");
  await admin.waitFor("document.querySelector('#status').textContent.includes('this page')", "the own session told");
  const said = await admin.text("#status");
  await admin.shot("kick-asks-own");
  check(said === "Session " + mine + " is this page's own; log out to end it.", "the own session is said to be (" + said + ")");
  check(admin.asked.length === asked && admin.sentCmd("kick").length === 1, "nothing asked or sent for it");
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
