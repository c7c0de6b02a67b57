// A TCP server on 127.0.0.1 for the HTTP misbehaviour node:http will not produce (garbage status lines, header
// floods, contradictory framing, a reset): it reads each request's head and hands the socket to a script.
// Everything it opened is closed by close().

import net, { type AddressInfo, type Socket } from 'node:net';

export interface RawServer {
  /** e.g. http://127.0.0.1:41234/pkg.tar */
  url(path?: string): string;
  /** request heads received so far */
  readonly requests: string[];
  close(): Promise<void>;
}

/** `script` answers one request (its head, up to the blank line) on `socket`; it may write anything, or nothing. */
export async function startRawServer(script: (socket: Socket, head: string, n: number) => void): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // the client going away is what these tests do
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      requests.push(head.slice(0, end));
      script(socket, head.slice(0, end), requests.length);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;
  return {
    url: (path = '/pkg.tar') => origin + path,
    requests,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
