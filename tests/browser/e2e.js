// End-to-end test of the web app in a real headless Chromium (the driver
// is lib.js).  Started by tests/check_browser.c, which runs drinkd; the
// environment is as lib.js says.
// Users are the harness's: alice/alicepw (100 credits), admin/adminpw.
// Machine m1 exists with slot 3 (Cola, price 10).  Exit status 0 = pass.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const lib = require("./lib.js");
const { Browser, log, sleep, phone, fits, check, login, MACHINE, ONLINE } = lib;

const SHOTS = process.env.SHOTS;

// m1's simulated card reader: a line "UID SLOT" appended is a tap.
const CARD_FILE = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "drink-cards-")), "taps");
fs.writeFileSync(CARD_FILE, "");

function startMachine() {
  return lib.startMachine(CARD_FILE);
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  let machine = startMachine();
  const browser = new Browser();
  try {
    const alice = await browser.page("alice");
    await alice.send("Emulation.setDeviceMetricsOverride",
      { width: 1100, height: 800, deviceScaleFactor: 1, mobile: false });

    // 1. Log in (keyboard: type, Enter), stay logged in.
    const submit = await login(alice, "alice", "alicepw", true);
    await alice.shot("01-login");
    await submit();
    await alice.waitFor("document.querySelector('#balance').textContent === '100'", "balance 100");
    await alice.waitFor(ONLINE + " === 'online'", "m1 online");
    check(await alice.eval("!!localStorage.getItem('drink.token')"), "token kept in local storage");
    await alice.shot("02-machines");

    // 2. Drop: queued -> vending -> done; the balance falls by the price.
    await alice.eval("window.__seen = []; new MutationObserver(() => " +
      "window.__seen.push(document.querySelector('#drop-status').textContent))" +
      ".observe(document.querySelector('#drop-status'), {childList: true, characterData: true, subtree: true})");
    await alice.click(MACHINE + " button.drop[data-slot='3']");
    await alice.waitFor("document.querySelector('#drop-status').textContent.startsWith('Done')", "the drop to finish");
    await alice.waitFor("document.querySelector('#balance').textContent === '90'", "balance 90");
    const seen = await alice.eval("window.__seen.join(' | ')");
    log("drop status went:", seen);
    check(/Queued|Vending/.test(seen) && /Done/.test(seen), "drop shown as queued/vending then done");
    await alice.shot("03-dropped");
    // README's picture of the app (docs/web-app.png comes from this one).
    await alice.shot("web-app", { x: 0, y: 0, width: 1100, height: 460 });

    // 3. The controller stops: the page shows m1 offline within 2 s.
    const t0 = Date.now();
    machine.kill("SIGTERM");
    await alice.waitFor(ONLINE + " === 'offline'", "m1 offline", 5000);
    const offMs = Date.now() - t0;
    log("machine shown offline after", offMs, "ms");
    check(offMs < 2000, "offline shown within 2 s (" + offMs + " ms)");
    check(await alice.eval("document.querySelector('" + MACHINE + " button.drop').disabled"),
      "drop button disabled while offline");
    await alice.shot("04-offline");
    machine = startMachine();
    await alice.waitFor(ONLINE + " === 'online'", "m1 back online");

    // 4. An admin credits alice in another browser; alice's page updates.
    const admin = await browser.page("admin");
    const submitAdmin = await login(admin, "admin", "adminpw", false);
    await submitAdmin();
    await admin.click("#tabbtn-users");
    await admin.waitFor("document.querySelector('#users tr[data-user=alice]')", "the users list");
    await admin.click("#users tr[data-user=alice] .actions button");
    await admin.type("#money-amount", "25");
    await admin.type("#money-note", "cash at the bar");
    await admin.shot("05-admin-credit");
    await admin.click("#money-form button[type=submit]");
    await admin.waitFor("document.querySelector('#status').textContent.includes('115')", "the credit to apply");
    const t1 = Date.now();
    await alice.waitFor("document.querySelector('#balance').textContent === '115'", "alice's page to show 115", 5000);
    log("member page updated", Date.now() - t1, "ms after the admin's reply");
    await alice.shot("06-member-updated");
    await admin.click("#tabbtn-log");
    await admin.waitFor("document.querySelectorAll('#log tbody tr').length >= 2", "the log");
    await admin.shot("07-admin-log");
    // Who is online lists alice's web session with a Kick button.
    await admin.click("#tabbtn-online");
    await admin.waitFor("[...document.querySelectorAll('#online tbody tr')].some(" +
      "(r) => r.textContent.includes('alice'))", "alice in the online list");
    await admin.shot("07b-admin-online");
    // Set up: m1's slots, editable; a price change reaches alice's page.
    await admin.click("#tabbtn-admin-machines");
    await admin.waitFor("document.querySelector('#admin-machines input[aria-label=\"Price of slot 3\"]')",
      "the slot editor");
    await admin.eval("(() => { const i = document.querySelector('#admin-machines input[aria-label=\"Price of slot 3\"]');" +
      " i.value = '12'; i.closest('tr').querySelector('button').click(); })()");
    await alice.waitFor("document.querySelector('" + MACHINE + " li.slot .price').textContent === '12 cr'",
      "the new price on alice's page", 5000);
    await admin.shot("07c-admin-setup");

    // 5. A reload stays logged in with the token.
    await alice.send("Page.reload");
    await alice.waitFor("document.readyState === 'complete'", "reload");
    await alice.waitFor("!document.querySelector('#app-view').hidden && " +
      "document.querySelector('#balance').textContent === '115'", "logged in again after reload");
    // The machine list arrives in its own reply after login; wait for it.
    await alice.waitFor("document.querySelector('" + MACHINE + " li.slot .price') && " +
      "document.querySelector('" + MACHINE + " li.slot .price').textContent === '12 cr'",
      "the price after reload", 5000);
    check(await alice.eval("document.querySelector('#login-view').hidden"), "no login form after reload");

    // History, with the drop and the credit.
    await alice.click("#tabbtn-history");
    await alice.waitFor("document.querySelectorAll('#history tbody tr').length >= 3", "history rows");
    await alice.shot("08-history");

    // Phone-sized screens: what a member and an admin act on is within
    // 390 px, without scrolling sideways.
    const phoneCheck = async (p, shot, sel, what) => {
      await sleep(300);
      await p.shot(shot);
      const bad = await fits(p, sel);
      check(bad === "", what + " within a phone's width" + (bad ? ": " + bad : ""));
      check(await p.eval("document.documentElement.scrollWidth <= 390"), p.name + "'s " + shot + " does not scroll sideways");
    };
    await phone(alice, true);
    await phoneCheck(alice, "15-phone-history",
      "#history tbody tr:first-child td.amount, #history tbody tr:first-child td.tx-state",
      "History shows Amount and State");
    await phone(admin, true);
    await admin.click("#tabbtn-users");
    await admin.waitFor("document.querySelector('#users tr[data-user=alice] .actions button')", "the users list");
    await phoneCheck(admin, "16-phone-users", "#users tr[data-user=alice] .actions button",
      "Users shows every action button");
    await admin.click("#tabbtn-admin-machines");
    await admin.waitFor("document.querySelector('#admin-machines input[aria-label=\"Price of slot 3\"]')",
      "the slot editor");
    await phoneCheck(admin, "17-phone-setup",
      "#admin-machines tbody tr:first-child input, #admin-machines tbody tr:first-child button",
      "Set up shows item, price, stock, on and Save");
    await admin.click("#tabbtn-online");
    await admin.waitFor("[...document.querySelectorAll('#online tbody tr')].some(" +
      "(r) => r.textContent.includes('alice'))", "the online list");
    await phoneCheck(admin, "18-phone-online", "#online tbody tr:first-child button",
      "Online shows Kick");
    await admin.click("#tabbtn-account");
    await admin.waitFor("document.querySelector('#tokens tbody tr')", "the devices list");
    await phoneCheck(admin, "19-phone-account", "#tokens tbody tr:first-child td",
      "Account shows each device");
    await phone(admin, false);

    // A phone-sized screen.
    await alice.send("Emulation.setDeviceMetricsOverride",
      { width: 390, height: 844, deviceScaleFactor: 2, mobile: true });
    await alice.click("#tabbtn-machines");
    await sleep(300);
    await alice.shot("09-phone");
    await alice.send("Emulation.setDeviceMetricsOverride",
      { width: 1100, height: 800, deviceScaleFactor: 1, mobile: false });

    // 6. Cards: alice binds one; the same card again and a number that is
    // not hex are refused with their reasons; a tap at m1 charges her; an
    // admin sees her cards, adds and removes one; she removes hers.
    const CARD_ROWS = "document.querySelectorAll('#my-cards tr[data-card-id]')";
    const CARD_ERR = "document.querySelector('#my-cards .error').textContent";
    const CARD_ADD = "#my-cards .card-add button[type=submit]";
    const cells = (p, box, i) => p.eval("[...document.querySelectorAll('" + box +
      " tr[data-card-id]')[" + i + "].cells].map((c) => c.textContent)");
    await alice.click("#tabbtn-cards");
    await alice.waitFor("document.querySelector('#my-cards tbody td.hint')", "the empty card list");
    check(await alice.eval(CARD_ROWS + ".length") === 0, "no cards at first");
    await alice.type("#my-cards .card-uid", "04:A2:B3:C4:D5:E6:80");
    await alice.type("#my-cards .card-label", "blue fob");
    await alice.click(CARD_ADD);
    // Since the reload the page is logged in by its token: the first card
    // is bound with the password, asked for in the form (protocol: card_add).
    await alice.waitFor("!document.querySelector('#my-cards .card-password-row').hidden", "the password asked for");
    await alice.type("#my-cards .card-password", "alicepw");
    await alice.click(CARD_ADD);
    await alice.waitFor(CARD_ROWS + ".length === 1", "the new card in the list");
    let row = await cells(alice, "#my-cards", 0);
    check(row[1] === "blue fob" && /^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(row[2]) && row[3] === "never",
      "card row shows label, when added, never used (" + row.join(" | ") + ")");
    check(await alice.eval("document.querySelector('#my-cards .card-uid').value") === "",
      "the form is cleared after adding");
    await alice.type("#my-cards .card-uid", "04a2b3c4d5e680");
    await alice.click(CARD_ADD);
    await alice.waitFor(CARD_ERR + ".includes('already bound')", "the duplicate card refused");
    check(await alice.eval(CARD_ROWS + ".length") === 1, "still one card after the duplicate");
    await alice.shot("11-card-duplicate");
    await alice.type("#my-cards .card-uid", "04a2-zz");
    await alice.click(CARD_ADD);
    await alice.waitFor(CARD_ERR + ".includes('hex digits')", "a card number that is not hex refused");
    check(await alice.eval(CARD_ROWS + ".length") === 1, "still one card after the bad number");
    await alice.send("Emulation.setDeviceMetricsOverride",
      { width: 390, height: 844, deviceScaleFactor: 2, mobile: true });
    await sleep(300);
    check(await alice.eval("document.documentElement.scrollWidth <= 390"),
      "the cards page fits a phone's width");
    await alice.shot("12-phone-cards");
    await alice.send("Emulation.setDeviceMetricsOverride",
      { width: 1100, height: 800, deviceScaleFactor: 1, mobile: false });

    // The card tapped at m1, slot 3 (price 12): alice pays.
    fs.appendFileSync(CARD_FILE, "04A2B3C4D5E680 3\n");
    await alice.waitFor("document.querySelector('#balance').textContent === '103'",
      "the card tap to charge alice 12", 15000);
    await alice.click("#tabbtn-cards");
    await alice.waitFor("(" + CARD_ROWS + "[0] || {cells: []}).cells[3]?.textContent.match(/^\\d{4}-/)",
      "the card's last use shown");

    await admin.click("#tabbtn-users");
    await admin.waitFor("document.querySelector('#users tr[data-user=alice] button.cards')", "the users list");
    await admin.click("#users tr[data-user=alice] button.cards");
    const ADMIN_ROWS = "document.querySelectorAll('#user-cards-box tr[data-card-id]')";
    await admin.waitFor(ADMIN_ROWS + ".length === 1", "alice's card in the admin's view");
    row = await cells(admin, "#user-cards-box", 0);
    check(row[1] === "blue fob" && row[3] !== "never", "the admin sees alice's card, used (" + row.join(" | ") + ")");
    check(await admin.text("#user-cards-title") === "Cards of alice", "the panel names alice");
    await admin.type("#user-cards-box .card-uid", "DEADBEEF");
    await admin.type("#user-cards-box .card-label", "spare");
    await admin.click("#user-cards-box .card-add button[type=submit]");
    await admin.waitFor(ADMIN_ROWS + ".length === 2", "the spare card added for alice");
    await admin.type("#user-cards-box .card-uid", "04A2B3C4D5E680");
    await admin.click("#user-cards-box .card-add button[type=submit]");
    await admin.waitFor("document.querySelector('#user-cards-box .error').textContent.includes('already bound')",
      "alice's card refused for a second binding");
    await admin.shot("13-admin-cards");
    await admin.click("#user-cards-box tr[data-card-id]:last-child button");
    await admin.waitFor(ADMIN_ROWS + ".length === 1", "the spare card removed");
    check((await cells(admin, "#user-cards-box", 0))[1] === "blue fob", "alice's own card kept");

    await alice.click("#tabbtn-cards");
    await alice.waitFor(CARD_ROWS + ".length === 1", "alice's list without the spare");
    await alice.click("#my-cards tr[data-card-id] button");
    await alice.waitFor(CARD_ROWS + ".length === 0 && document.querySelector('#my-cards tbody td.hint')",
      "the card removed");
    await alice.shot("14-card-removed");

    // 8. A drop with a delay: the page tells the delay it was sent with,
    // even when the list is changed meanwhile, and the Drop buttons are off
    // until its reply, so a second tap sends nothing.  Each drop carries
    // its own idempotency key.
    const DROP3 = MACHINE + " button.drop[data-slot='3']";
    const STATUS = "document.querySelector('#drop-status').textContent";
    await alice.click("#tabbtn-machines");
    await alice.waitFor("document.querySelector(\"" + DROP3 + "\") && !document.querySelector(\"" + DROP3 + "\").disabled",
      "the drop button");
    await alice.eval("window.__seen = []; document.querySelector('#drop-delay').value = '5'");
    const drops0 = alice.sentCmd("drop").length;
    await alice.eval("document.querySelector(\"" + DROP3 + "\").click();" +
      " document.querySelector('#drop-delay').value = '30'");
    await alice.waitFor(STATUS + ".includes('Vending now')", "the delayed drop vending");
    await alice.shot("18-drop-delayed");
    const vending = await alice.text("#drop-status");
    check(/drops in [1-5] s/.test(vending) && !vending.includes("30"),
      "the delay shown is the one sent (" + vending + ")");
    check(await alice.eval("[...document.querySelectorAll('button.drop')].every((b) => b.disabled)"),
      "every Drop button is off while the drop is under way");
    await alice.eval("document.querySelector(\"" + DROP3 + "\").click()");
    await alice.waitFor(STATUS + ".startsWith('Done')", "the delayed drop to finish", 15000);
    const seen2 = await alice.eval("window.__seen.join(' | ')");
    check(alice.sentCmd("drop").length === drops0 + 1 && !seen2.includes("Another drop"),
      "a second tap during the drop sent nothing (" + seen2 + ")");
    await alice.waitFor("!document.querySelector(\"" + DROP3 + "\").disabled", "Drop on again after the reply");
    const dropKeys = alice.sentCmd("drop").map((m) => m.key);
    check(dropKeys.length === 2 && dropKeys.every((k) => /^[0-9a-f]{32}$/.test(k)) && dropKeys[0] !== dropKeys[1],
      "each drop carries a fresh random key (" + dropKeys.join(", ") + ")");
    check(await alice.text("#balance") === "91", "the delayed drop charged 12");

    // A drop that fails is told as not charged, and History strikes its
    // amount through.
    await alice.eval("document.querySelector('#drop-delay').value = '5'");
    await alice.click(DROP3);
    await alice.waitFor(STATUS + ".includes('Vending now')", "the drop that will fail vending");
    machine.kill("SIGTERM");
    await alice.waitFor("document.querySelector('#drop-status').classList.contains('bad')", "the drop to fail", 15000);
    const failed = await alice.text("#drop-status");
    check(/nothing (was )?charged/i.test(failed), "a failed drop says nothing was charged (" + failed + ")");
    await alice.waitFor("document.querySelector('#balance').textContent === '91'", "the balance back at 91");
    fs.writeFileSync(CARD_FILE, "");
    machine = startMachine();
    await alice.eval("document.querySelector('#drop-delay').value = '0'");
    await alice.click("#tabbtn-history");
    await alice.waitFor("[...document.querySelectorAll('#history tbody tr')].some((r) => r.textContent.includes('failed'))",
      "the failed drop in History");
    const failedAmount = await alice.eval("[...document.querySelectorAll('#history tbody tr')]" +
      ".find((r) => r.textContent.includes('failed')).querySelector('td.amount').innerHTML");
    check(/^<s>-12<\/s>/.test(failedAmount) && failedAmount.includes("not charged"),
      "a failed drop's amount is struck through, not charged (" + failedAmount + ")");
    await phone(alice, true);
    await sleep(300);
    await alice.shot("19-phone-history-failed");
    await phone(alice, false);

    // 9. Sending credits when the connection is lost before the answer:
    // the page says the outcome is unknown; sent again, the same key makes
    // the server answer with the first transfer instead of making another.
    await alice.click("#tabbtn-send");
    await alice.type("#send-to", "bob");
    await alice.type("#send-amount", "7");
    await alice.type("#send-note", "lunch");
    await alice.eval("(() => { const ws = conn.ws, send = ws.send.bind(ws);" +
      " ws.send = (d) => { send(d); if (JSON.parse(d).cmd === 'send') ws.close(); }; })()");
    await alice.click("#send-form button[type=submit]");
    await alice.waitFor("document.querySelector('#send-form .error').textContent", "the lost connection told");
    const lost = await alice.text("#send-form .error");
    check(/outcome is unknown/.test(lost) && /check History before trying again/.test(lost),
      "a lost connection says: check History before trying again (" + lost + ")");
    await alice.shot("20-send-lost");
    await alice.waitFor("conn.ws.readyState === WebSocket.OPEN && document.querySelector('#status').textContent === ''",
      "the page to reconnect", 10000);
    await alice.waitFor("document.querySelector('#balance').textContent === '84'", "the first send applied");
    await sleep(500);
    await alice.click("#send-form button[type=submit]");
    await alice.waitFor("document.querySelector('#status').textContent.startsWith('Sent 7')", "the send retried");
    const sends = alice.sentCmd("send");
    check(sends.length === 2 && /^[0-9a-f]{32}$/.test(sends[0].key) && sends[1].key === sends[0].key,
      "the retried send carries the first one's key");
    await sleep(300);
    check(await alice.text("#balance") === "84", "the retried send moved no more credits");
    await alice.click("#tabbtn-history");
    const TO_BOB = "[...document.querySelectorAll('#history td.what')].filter((c) => c.textContent === 'to bob: lunch').length";
    await alice.waitFor(TO_BOB, "the transfer in History");
    await sleep(300);
    check(await alice.eval(TO_BOB) === 1, "one transfer to bob in History");
    check(/outcome is unknown: check History before trying again/.test(
      await alice.eval("explain({ ok: false, error: 'internal', message: 'server fault', cmd: 'drop' })")),
      "an internal error says the outcome is unknown");

    // 10. The admin: the server's own words for errors, whose balance fell
    // short, no Refund on a refunded drop, and a question before changing
    // one's own account.
    await admin.click("#tabbtn-users");
    await admin.waitFor("document.querySelector('#users tr[data-user=bob] .actions button')", "bob in the users list");
    await admin.click("#users tr[data-user=bob] .actions button");
    await admin.eval("document.querySelector('#money-kind').value = 'debit'");
    await admin.type("#money-amount", "500");
    await admin.type("#money-note", "too much");
    await admin.click("#money-form button[type=submit]");
    await admin.waitFor("document.querySelector('#money-form .error').textContent", "the debit refused");
    const debit = await admin.text("#money-form .error");
    check(debit.includes("The balance of bob is 7") && !/your/i.test(debit), "a refused debit names bob's balance (" + debit + ")");
    check(/^[0-9a-f]{32}$/.test(admin.sentCmd("debit")[0].key), "the debit carries a key");
    await admin.click("#money-cancel");
    await admin.click("#tabbtn-log");
    const firstDrop = "#log tr[data-tx='3']";
    await admin.waitFor("document.querySelector(\"" + firstDrop + " button.refund\")", "Refund on alice's first drop");
    admin.dialogAnswer = "came out warm";
    await admin.click(firstDrop + " button.refund");
    await admin.waitFor("document.querySelector('#status').textContent.startsWith('Refunded')", "the refund");
    await admin.waitFor("document.querySelector(\"" + firstDrop + "\") && !document.querySelector(\"" + firstDrop +
      " button.refund\")", "the refunded drop without Refund");
    check((await admin.text(firstDrop + " td.tx-state")).startsWith("refunded"), "the drop shown as refunded");
    check(/^[0-9a-f]{32}$/.test(admin.sentCmd("refund")[0].key), "the refund carries a key");
    await admin.shot("21-admin-log-refunded");
    await admin.eval("refund({ tx: 3, user: 'alice', item: 'Cola' })");
    await admin.waitFor("document.querySelector('#status').classList.contains('bad')", "the second refund refused");
    const again = await admin.text("#status");
    check(again === "That drop has already been refunded.", "a second refund tells the server's reason (" + again + ")");
    await admin.click("#tabbtn-users");
    await admin.waitFor("document.querySelector('#users tr[data-user=admin] .actions button')", "the users list");
    admin.dialogAnswer = null;
    const mods = admin.sentCmd("user_mod").length;
    await admin.eval("[...document.querySelectorAll('#users tr[data-user=admin] .actions button')]" +
      ".find((b) => b.textContent === 'Make member').click()");
    await admin.waitFor("document.querySelector('#users tr[data-user=admin]')", "the users list");
    await sleep(300);
    check(admin.asked.some((q) => /yourself a member/.test(q)) && admin.sentCmd("user_mod").length === mods,
      "changing one's own role asks first, and cancelled, changes nothing");
    check(await admin.text("#users tr[data-user=admin] td.role") === "admin", "the admin is still an admin");
    admin.dialogAnswer = "";

    // 7. Log out: the token is revoked and forgotten; a reload asks again.
    await alice.click("#logout");
    await alice.waitFor("!document.querySelector('#login-view').hidden", "the login form after logout");
    check(!(await alice.eval("localStorage.getItem('drink.token')")), "token removed from storage");
    await alice.send("Page.reload");
    await alice.waitFor("document.readyState === 'complete'", "reload");
    await alice.waitFor("!document.querySelector('#login-view').hidden", "login form after reload");
    await alice.shot("10-logged-out");

    for (const p of [alice, admin]) {
      check(p.errors.length === 0, p.name + "'s page had no script errors" +
        (p.errors.length ? ": " + p.errors.join("; ") : ""));
    }
  } finally {
    machine.kill("SIGTERM");
    await browser.close();
  }
}

main().then(() => {
  log("all browser checks passed");
  process.exit(0);
}, (e) => {
  console.error("FAILED:", e.message);
  process.exit(1);
});
