// LabsMobile's own Node.js library (the npm package `labsmobile-sms`, pinned in
// package-lock.json) as an application sending through textgate's LabsMobile JSON API: only
// the API's base URL changes (the client's `_urlBase`, which has no setter of its own).
// Usage: node labsmobile_client.js BASE_URL USERNAME TOKEN MSISDN
// Prints one JSON line per step; exits non-zero on anything unexpected. The library writes
// its log to LabsMobile.log in the working directory: run it in a scratch one.
"use strict";

const LabsMobileClient = require("labsmobile-sms/src/LabsMobileClient");
const TextMessage = require("labsmobile-sms/src/LabsMobileModelTextMessage");
const ScheduledSendings = require("labsmobile-sms/src/LabsMobileModelScheduledSendings");
const RestException = require("labsmobile-sms/src/Exception/RestException");

async function main() {
  const [baseUrl, username, token, msisdn] = process.argv.slice(2);
  const client = new LabsMobileClient(username, token);
  client._urlBase = baseUrl;
  const out = (step, value) => console.log(JSON.stringify({ step, ...value }));

  const hello = new TextMessage([msisdn], "Hello from labsmobile-sms");
  hello.tpoa = "ACME";
  hello.subid = "node-1";
  const sent = await client.sendSms(hello);
  out("sent", { code: sent.code, subid: sent.subid });

  const credit = await client.getCredit();
  out("credit", { code: credit.code, credits: credit.credits });

  const later = new TextMessage([msisdn], "Tomorrow's reminder");
  later.subid = "node-later";
  later.scheduled = "2099-01-01 09:30:00";
  const scheduled = await client.sendSms(later);
  out("scheduled", { code: scheduled.code, subid: scheduled.subid });

  const cancelled = await client.scheduledSendings(new ScheduledSendings("node-later", "cancel"));
  out("cancelled", { code: cancelled.code });

  try {
    await client.sendSms(new TextMessage([msisdn], ""));
    out("refused", { status: null });
  } catch (err) {
    if (!(err instanceof RestException)) throw err;
    out("refused", { status: err.status, message: err.message });
  }
}

const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 30000);

main()
  .then(() => clearTimeout(timer))
  .catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
  });
