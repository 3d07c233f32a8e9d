/**
 * Whether another process listens on the port the data-plane workers share. The workers bind
 * it with SO_REUSEPORT, which lets any process of the same user bind it too and have the
 * kernel split connections with it; an exclusive bind checks beforehand that nobody holds the
 * port, and this closes the window after: once the workers listen, any listening socket on
 * the same address and port that is not one of this process's is a stranger's (two gateways
 * that started at the same moment then both see the other, and both refuse to serve).
 *
 * Read from Linux's /proc (the listening sockets of /proc/net/tcp and tcp6, and this
 * process's socket descriptors); elsewhere it cannot tell, and says so (undefined).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const LISTEN = '0A';

interface ListeningSocket {
  /** The local address and port as /proc writes them, e.g. `0100007F:2161`. */
  readonly local: string;
  readonly port: number;
  readonly inode: string;
}

function listeningSockets(): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== LISTEN) continue;
      const local = fields[1]!;
      sockets.push({ local, port: Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16), inode: fields[9]! });
    }
  }
  return sockets;
}

/** The inodes of this process's sockets (every thread's: they share the descriptor table). */
function ownSocketInodes(): Set<string> | undefined {
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return undefined;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
    } catch {
      // Closed meanwhile.
    }
  }
  return inodes;
}

/**
 * How many sockets of other processes listen on `port`, on an address this process listens
 * on too; undefined when this system cannot tell (no /proc), or this process holds none there.
 */
export function strangersOnPort(port: number): number | undefined {
  const own = ownSocketInodes();
  if (own === undefined) return undefined;
  const onPort = listeningSockets().filter((s) => s.port === port);
  const ours = new Set(onPort.filter((s) => own.has(s.inode)).map((s) => s.local));
  if (ours.size === 0) return undefined;
  return onPort.filter((s) => ours.has(s.local) && !own.has(s.inode)).length;
}
