// A minimal WebSocket client over TLS for the proxy tests: connects, sends
// one masked text frame, prints the text frame it gets back.
// usage: node wsclient.js PORT CA.pem PATH MESSAGE
'use strict';
const tls = require('tls');
const fs = require('fs');
const crypto = require('crypto');
const [port, ca, path, msg] = process.argv.slice(2);
const key = crypto.randomBytes(16).toString('base64');
const s = tls.connect({ host: '127.0.0.1', port: +port, servername: 'localhost', ca: fs.readFileSync(ca),
                        ALPNProtocols: ['http/1.1'] }, () => {
  s.write(`GET ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
});
let buf = Buffer.alloc(0), upgraded = false;
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  if (!upgraded) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.slice(0, end).toString();
    console.log(head.split('\r\n')[0]);
    const want = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC11B65').digest('base64');
    if (!head.includes(want)) { console.log('bad accept'); process.exit(1); }
    upgraded = true;
    buf = buf.slice(end + 4);
    const payload = Buffer.from(msg), mask = crypto.randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
    s.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  }
  if (upgraded && buf.length >= 2 && buf.length >= 2 + (buf[1] & 0x7f)) {
    console.log(buf.slice(2, 2 + (buf[1] & 0x7f)).toString());
    s.end();
    process.exit(0);
  }
});
s.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
setTimeout(() => { console.log('timeout'); process.exit(1); }, 8000);
