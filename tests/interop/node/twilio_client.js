// Twilio's own Node.js library (the npm package `twilio`, pinned in package-lock.json) as
// an application sending through textgate's Twilio dialect: only the API's base URL
// changes. Usage: node twilio_client.js BASE_URL ACCOUNT_SID AUTH_TOKEN TO
// Prints one JSON line per step; exits non-zero on anything unexpected.
"use strict";

const twilio = require("twilio");

async function main() {
  const [baseUrl, accountSid, authToken, to] = process.argv.slice(2);
  const client = twilio(accountSid, authToken);
  client.api.baseUrl = baseUrl;
  const out = (step, value) => console.log(JSON.stringify({ step, ...value }));

  const sent = await client.messages.create({ to, body: "Hello from twilio-node" });
  out("created", { sid: sent.sid, status: sent.status, numSegments: sent.numSegments });

  const more = [];
  for (let i = 0; i < 3; i++) {
    more.push((await client.messages.create({ to, body: `page ${i}` })).sid);
  }
  const listed = await client.messages.list({ pageSize: 2 });
  out("listed", { sids: listed.map((m) => m.sid) });

  const fetched = await client.messages(sent.sid).fetch();
  out("fetched", { sid: fetched.sid, body: fetched.body, to: fetched.to });

  try {
    await client.messages.create({ to: "+999123456", body: "hi" });
    out("refused", { code: null });
  } catch (err) {
    out("refused", { status: err.status, code: err.code });
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
