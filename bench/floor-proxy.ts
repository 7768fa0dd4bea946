// The floor: the least any HTTP proxy does — raw node:http in, undici out, bytes piped both ways.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const target = process.argv[2] as string;
const pool = new Pool(target, { keepAliveTimeout: 60_000 }); // unlimited connections, like the bridge

const server = createServer(async (req, res) => {
  try {
    const { host: _host, connection: _connection, 'content-length': _length, ...headers } = req.headers;
    const upstream = await pool.request({
      path: req.url ?? '/',
      method: req.method as 'POST',
      headers: headers as Record<string, string>,
      body: req.method === 'GET' ? undefined : req,
    });
    res.writeHead(upstream.statusCode, upstream.headers as Record<string, string>);
    for await (const chunk of upstream.body) res.write(chunk);
    res.end();
  } catch {
    res.destroy();
  }
});
server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
