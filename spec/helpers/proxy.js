// A forward HTTP proxy for specs (spec/helpers/proxy.lua): takes
// absolute-form requests (`GET http://127.0.0.1:<port>/path HTTP/1.1`),
// logs each request line to stderr, one per line, and forwards the request
// to its target, which must be on 127.0.0.1. Speaks the fake server's
// start-up protocol, so spec/helpers/fake.lua can start and stop it: prints
// `listening <port>` on stdout, exits on SIGTERM or when stdin closes.
// Command-line arguments are ignored. Node's standard library only.
'use strict';
const http = require('http');

// Hop-by-hop headers are the proxy's own, never forwarded.
const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade'];

const server = http.createServer((req, res) => {
  process.stderr.write(`${req.method} ${req.url} HTTP/${req.httpVersion}\n`);
  let target;
  try {
    target = new URL(req.url);
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('proxy: not an absolute-form request\n');
    return;
  }
  if (target.protocol !== 'http:' || target.hostname !== '127.0.0.1') {
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('proxy: only http://127.0.0.1 targets\n');
    return;
  }
  const headers = { ...req.headers };
  for (const name of HOP_BY_HOP) delete headers[name];
  const upstream = http.request({
    host: target.hostname, port: target.port, method: req.method,
    path: target.pathname + target.search, headers,
  }, (answer) => {
    const back = { ...answer.headers };
    for (const name of HOP_BY_HOP) delete back[name];
    res.writeHead(answer.statusCode, back);
    answer.pipe(res);
  });
  upstream.on('error', (e) => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`proxy: ${e.message}\n`);
  });
  req.pipe(upstream);
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
