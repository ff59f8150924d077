// A modern-only MCP server (protocol 2026-07-28) on the TypeScript SDK v2, for python-tests/era
// (protocol-2026.md §5.1 component (c)). Unlike mcp 2.3 it routes on the body, not the headers.
//
//   node server.mjs [--request-log PATH]
//
// `createMcpHandler(factory, { legacy: 'reject' })` (a web-standard `fetch` handler) behind
// node's http server on 127.0.0.1, endpoint /mcp/ (the path the bridge normalises URLs to);
// prints exactly `READY <port>` once it listens. Tools: `echo` (returns `text`), `badheader`
// (an invalid `x-mcp-header` annotation, on a number: HTTP clients must drop it) and `bump`
// (tools list changed + `file:///x.txt` updated, on `subscriptions/listen` streams). With
// `--request-log`, the Python servers' wire record (wire_recorder.py): for each HTTP request one
// JSON line with `phase` "arrived" once its body is read and one with `phase` "answered" and the
// `status` when the answer starts: method, path, the `mcp-*` and `accept` headers, and the body's
// JSON-RPC method, id, name and `params._meta` keys.
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';

const logIndex = process.argv.indexOf('--request-log');
const requestLog = logIndex > 0 ? process.argv[logIndex + 1] : undefined;
const RESOURCE_URI = 'file:///x.txt';

const handler = createMcpHandler(
  () => {
    const server = new McpServer({ name: 'era-ts-server', version: '1.0.0' });
    server.registerTool(
      'echo',
      { description: 'Returns its argument.', inputSchema: z.object({ text: z.string() }) },
      async ({ text }) => ({ content: [{ type: 'text', text }] }),
    );
    // An invalid `x-mcp-header` annotation (on a `number`, §1.9): an HTTP client must drop
    // this tool from `tools/list`.
    server.registerTool(
      'badheader',
      {
        description: 'Carries an invalid x-mcp-header annotation.',
        inputSchema: z.object({ size: z.number().meta({ 'x-mcp-header': 'Size' }) }),
      },
      async ({ size }) => ({ content: [{ type: 'text', text: `size=${size}` }] }),
    );
    server.registerTool('bump', { description: 'Announces changes.' }, async () => {
      handler.notify.toolsChanged();
      handler.notify.resourceUpdated(RESOURCE_URI);
      return { content: [{ type: 'text', text: 'bumped' }] };
    });
    server.registerResource('x', RESOURCE_URI, { mimeType: 'text/plain' }, async () => ({
      contents: [{ uri: RESOURCE_URI, mimeType: 'text/plain', text: 'x' }],
    }));
    return server;
  },
  { legacy: 'reject' },
);

function record(req, body, phase, status) {
  if (!requestLog) return;
  const entry = { kind: 'http', phase, http: req.method, path: req.url };
  if (status !== undefined) entry.status = status;
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('mcp-') || name === 'accept') entry[name] = value;
  }
  try {
    const message = JSON.parse(body.toString('utf8'));
    if (message && typeof message === 'object' && !Array.isArray(message)) {
      if ('method' in message) entry.rpc_method = message.method;
      if ('id' in message) entry.rpc_id = message.id;
      if ('result' in message || 'error' in message) entry.rpc_kind = 'response';
      const params = message.params;
      if (params && typeof params === 'object') {
        const meta = params._meta;
        if (meta && typeof meta === 'object') {
          entry.meta_keys = Object.keys(meta).sort();
          const version = meta['io.modelcontextprotocol/protocolVersion'];
          if (version !== undefined) entry.meta_version = version;
        }
        if ('name' in params) entry.rpc_name = params.name;
        if ('requestState' in params) entry.request_state = params.requestState;
      }
    }
  } catch {
    // Not JSON (or empty): nothing more to record.
  }
  appendFileSync(requestLog, `${JSON.stringify(entry)}\n`);
}

// node:http -> fetch Request, Response -> node:http; a closed connection aborts the request
// (closing the stream is cancellation at 2026-07-28, §1.5).
const http = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  record(req, body, 'arrived');
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const request = new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method,
    headers,
    body: hasBody ? body : undefined,
    signal: abort.signal,
  });
  let response;
  try {
    response = await handler.fetch(request);
  } catch (error) {
    console.error(error);
    response = new Response('internal error', { status: 500 });
  }
  record(req, body, 'answered', response.status);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) {
    try {
      for await (const chunk of response.body) res.write(chunk);
    } catch {
      // The client went away mid-stream.
    }
  }
  res.end();
});

http.listen(0, '127.0.0.1', () => {
  console.log(`READY ${http.address().port}`);
});
