// QEMU guestfwd helper (`-nic user,restrict=on,guestfwd=tcp:10.0.2.2:PORT-cmd:node tcp-pipe.mjs HOSTPORT`): slirp
// runs one per guest connection with the connection on stdin/stdout; this joins it to 127.0.0.1:HOSTPORT. The only
// address it ever connects to is the host's loopback.
import { connect } from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: tcp-pipe.mjs HOSTPORT\n');
  process.exit(2);
}
const sock = connect({ host: '127.0.0.1', port });
process.stdin.pipe(sock);
sock.pipe(process.stdout);
const end = () => process.exit(0);
sock.on('error', end);
sock.on('close', end);
process.stdin.on('end', () => sock.end());
process.stdout.on('error', end);
