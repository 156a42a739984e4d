'use strict';
// node-smpp as an SMPP customer of textgate, driven by a list of actions.
//
//   node smpp_client.js HOST PORT SYSTEM_ID PASSWORD ACTIONS_JSON
//
// Each action runs after the one before it has its answer(s); every PDU received is
// printed as one JSON line on stdout. Actions:
//   {"op": "bind", "session": NAME, "mode": "transmitter" | "receiver" | "transceiver"}
//   {"op": "submit", "session": NAME, "label": L, "destination_addr": D, "text": T,
//    "data_coding": N, "registered_delivery": N, "udh": [octets]}  (optional fields)
//   {"op": "submit_multi", "session": NAME, "label": L, "dest_address": [{"dest_addr_ton",
//    "dest_addr_npi", "destination_addr"} or {"dl_name"}], "text": T}
//   {"op": "receive", "count": N}   wait until N deliver_sm have come, over all sessions
//   {"op": "unbind"}                unbind every session, then exit
// Every deliver_sm is answered deliver_sm_resp ESME_ROK. The whole run is bounded
// (TIMEOUT_MS); past it the script prints {"event": "timeout"} and exits with status 2.

const smpp = require('smpp');

const TIMEOUT_MS = 30000;
const [host, port, systemId, password, actionsJson] = process.argv.slice(2);
const actions = JSON.parse(actionsJson);
const sessions = {};
let delivered = 0;
let waiting = null;

function print(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function text(value) {
  if (value && typeof value === 'object' && 'message' in value) {
    value = value.message;
  }
  return Buffer.isBuffer(value) ? value.toString('latin1') : value;
}

function onDeliver(name, session, pdu) {
  session.send(pdu.response());
  delivered += 1;
  print({
    event: 'deliver_sm',
    session: name,
    esm_class: pdu.esm_class,
    source_addr: pdu.source_addr,
    destination_addr: pdu.destination_addr,
    data_coding: pdu.data_coding,
    short_message: text(pdu.short_message),
    message_payload: pdu.message_payload === undefined ? null : text(pdu.message_payload),
    receipted_message_id: pdu.receipted_message_id === undefined ? null : pdu.receipted_message_id,
    message_state: pdu.message_state === undefined ? null : pdu.message_state,
  });
  if (waiting && delivered >= waiting.count) {
    const done = waiting.done;
    waiting = null;
    done();
  }
}

function bind(action) {
  return new Promise((resolve, reject) => {
    const name = action.session;
    const session = smpp.connect({ url: `smpp://${host}:${port}` });
    session.on('error', (err) => reject(err));
    session.on('deliver_sm', (pdu) => onDeliver(name, session, pdu));
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session[`bind_${action.mode}`]({ system_id: systemId, password }, (pdu) => {
      sessions[name] = session;
      print({ event: 'bind_resp', session: name, mode: action.mode, command_status: pdu.command_status });
      resolve();
    });
  });
}

function submit(action) {
  return new Promise((resolve) => {
    const fields = {
      source_addr_ton: 5,
      source_addr: 'ACME',
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      destination_addr: action.destination_addr,
      registered_delivery: action.registered_delivery || 0,
      short_message: action.udh
        ? { udh: Buffer.from(action.udh), message: action.text }
        : action.text,
    };
    if (action.data_coding !== undefined) {
      fields.data_coding = action.data_coding;
    }
    if (action.udh) {
      fields.esm_class = 0x40; // 5.2.12: UDH indicator
    }
    sessions[action.session].submit_sm(fields, (pdu) => {
      print({
        event: 'submit_sm_resp',
        label: action.label,
        command_status: pdu.command_status,
        message_id: pdu.message_id === undefined ? '' : pdu.message_id,
      });
      resolve();
    });
  });
}

function submitMulti(action) {
  return new Promise((resolve) => {
    const fields = {
      source_addr_ton: 5,
      source_addr: 'ACME',
      dest_address: action.dest_address,
      data_coding: 0,
      short_message: action.text,
    };
    sessions[action.session].submit_multi(fields, (pdu) => {
      print({
        event: 'submit_multi_resp',
        label: action.label,
        command_status: pdu.command_status,
        message_id: pdu.message_id === undefined ? '' : pdu.message_id,
        unsuccess_sme: pdu.unsuccess_sme === undefined ? [] : pdu.unsuccess_sme,
      });
      resolve();
    });
  });
}

function receive(action) {
  return new Promise((resolve) => {
    if (delivered >= action.count) {
      resolve();
    } else {
      waiting = { count: action.count, done: resolve };
    }
  });
}

function unbindAll() {
  return Promise.all(
    Object.entries(sessions).map(
      ([name, session]) =>
        new Promise((resolve) => {
          session.unbind((pdu) => {
            print({ event: 'unbind_resp', session: name, command_status: pdu.command_status });
            session.close(resolve);
          });
        }),
    ),
  );
}

const run = { bind, submit, submit_multi: submitMulti, receive, unbind: unbindAll };

async function main() {
  const timer = setTimeout(() => {
    print({ event: 'timeout', delivered });
    process.exit(2);
  }, TIMEOUT_MS);
  for (const action of actions) {
    await run[action.op](action);
  }
  clearTimeout(timer);
  print({ event: 'done' });
  process.exit(0);
}

main().catch((err) => {
  print({ event: 'error', message: String(err && err.message ? err.message : err) });
  process.exit(1);
});
