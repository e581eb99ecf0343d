// Baseline: bare node:http answering GET with a small JSON body.
import { createServer } from 'node:http';

const server = createServer((_req, res) => {
  const body = JSON.stringify({ hello: 'world' });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
