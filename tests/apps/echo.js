// A small HTTP/1.1 application for the reverse proxy tests, Node's http
// module only: echoes bodies, hashes them, shows the headers it got, stalls
// on request, and echoes WebSocket text frames (RFC 6455, by hand).
// usage: node echo.js PORT [NAME]
'use strict';
const http = require('http');
const crypto = require('crypto');
const port = +process.argv[2];
const name = process.argv[3] || 'app';

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (p === '/echo') {
    // Streams the body back as it comes (chunked response).
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-App': name });
    req.pipe(res);
  } else if (p === '/sha256') {
    const h = crypto.createHash('sha256');
    let n = 0;
    req.on('data', (d) => { h.update(d); n += d.length; });
    req.on('end', () => {
      const body = `${h.digest('hex')} ${n}\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  } else if (p === '/headers') {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ app: name, method: req.method, url: req.url, headers: req.headers }) + '\n';
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body),
                           'Keep-Alive': 'timeout=5', 'X-Hop': 'gone', 'Connection': 'X-Hop' });
      res.end(body);
    });
  } else if (p === '/hang') {
    req.resume(); // never answers
  } else if (p === '/wait') {
    setTimeout(() => { res.end(`waited ${name}\n`); }, +(url.searchParams.get('ms') || 3000));
  } else if (p === '/slow') {
    // A head, part of a body, then nothing: for a backend killed mid-response.
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 1000000 });
    res.write('x'.repeat(10000));
  } else if (p === '/chunked') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    let i = 0;
    const t = setInterval(() => {
      res.write(`part ${i}\n`);
      if (++i === 5) { clearInterval(t); res.end('end\n'); }
    }, 10);
  } else {
    const body = `${name}: ${req.method} ${req.url}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }
});

// WebSocket: answer the handshake, then echo each text frame back.
server.on('upgrade', (req, sock) => {
  const key = req.headers['sec-websocket-key'];
  if (!key || (req.headers.upgrade || '').toLowerCase() !== 'websocket') { sock.destroy(); return; }
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC11B65').digest('base64');
  sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
             `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const masked = buf[1] & 0x80;
      const mask = masked ? buf.slice(off, off + 4) : null;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const data = Buffer.from(buf.slice(off, off + len));
      if (mask) for (let i = 0; i < data.length; i++) data[i] ^= mask[i & 3];
      buf = buf.slice(off + len);
      if (op === 8) { sock.end(Buffer.from([0x88, 0])); return; }
      if (op === 1) {
        const out = Buffer.from(`echo ${name}: ${data.toString()}`);
        const hdr = out.length < 126 ? Buffer.from([0x81, out.length])
                                     : Buffer.from([0x81, 126, out.length >> 8, out.length & 255]);
        sock.write(Buffer.concat([hdr, out]));
      }
    }
  });
  sock.on('error', () => {});
});

server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
