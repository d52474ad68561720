// An HTTP/2 client on Node's http2 module for the tests of moat serve: all
// the paths as concurrent streams of one connection, each answer hashed.
// Prints "PATH STATUS SHA256 ALPN" per path, in the order given.
// usage: node h2client.js PORT CA_FILE PATH...
'use strict';
const http2 = require('http2');
const crypto = require('crypto');
const fs = require('fs');
const [port, caFile, ...paths] = process.argv.slice(2);
const session = http2.connect(`https://127.0.0.1:${port}`, {
  ca: fs.readFileSync(caFile), servername: 'localhost', host: '127.0.0.1',
});
session.on('error', (e) => { console.error(`session error: ${e.message}`); process.exit(1); });
const results = paths.map((p) => new Promise((resolve) => {
  const req = session.request({ ':path': p });
  const h = crypto.createHash('sha256');
  let status = 0;
  req.on('response', (hd) => { status = hd[':status']; });
  req.on('data', (d) => h.update(d));
  req.on('end', () => resolve(`${p} ${status} ${h.digest('hex')} ${session.alpnProtocol}`));
  req.on('error', (e) => resolve(`${p} error ${e.message}`));
  req.end();
}));
Promise.all(results).then((lines) => {
  console.log(lines.join('\n'));
  session.close();
});
