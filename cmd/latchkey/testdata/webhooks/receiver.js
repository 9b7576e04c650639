// A webhook receiver for Latchkey's tests: it verifies each delivery with the
// standardwebhooks library (the Standard Webhooks reference implementation for Node) and
// prints one JSON line per request on stdout. It reads the endpoint's secret (whsec_...)
// from the first line of stdin. With HOLD_FIRST=1 it never answers the first request (the
// test kills the sender meanwhile); with FAIL_FIRST=n it answers the first n verified
// requests with 500; with DELAY_MS=n it answers each delivery n milliseconds late.
const http = require("http");
const readline = require("readline");
const { Webhook } = require("standardwebhooks");

let wh = null;
let requests = 0;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

readline.createInterface({ input: process.stdin }).once("line", (line) => {
  wh = new Webhook(line.trim());
  out({ secret: true });
});

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const n = requests++;
    const id = req.headers["webhook-id"];
    if (!wh) {
      out({ ok: false, id, error: "no secret yet" });
      res.writeHead(503).end();
      return;
    }
    let payload;
    try {
      payload = wh.verify(body, req.headers);
    } catch (e) {
      out({ ok: false, id, error: String(e && e.message) });
      res.writeHead(400).end();
      return;
    }
    if (n === 0 && process.env.HOLD_FIRST === "1") {
      out({ ok: true, held: true, id, type: payload.type, userID: payload.data.userID || "" });
      return; // never answered
    }
    if (n < Number(process.env.FAIL_FIRST || 0)) {
      out({ ok: true, failed: true, id, type: payload.type });
      res.writeHead(500).end();
      return;
    }
    out({ ok: true, id, type: payload.type, userID: payload.data.userID || "" });
    setTimeout(() => res.writeHead(204).end(), Number(process.env.DELAY_MS || 0));
  });
});

server.listen(0, "127.0.0.1", () => out({ listening: server.address().port }));
