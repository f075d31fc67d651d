import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Which IP addresses a webhook may not reach (contract §7: "https:// to a public address"):
 * anything that is not a public unicast address — private, loopback, link-local, unique-local,
 * unspecified, shared (CGNAT), multicast, reserved, documentation — so a rule can never make
 * the worker call into its own network (cloud metadata at 169.254.169.254, an admin port on
 * localhost). IPv6 forms that carry an IPv4 address are judged by that address (NAT64, 6to4),
 * except IPv4-mapped and IPv4-compatible ones, which a public name never resolves to: refused.
 */

const V4_RANGES: readonly [string, number, string][] = [
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, 'a private address'],
  ['100.64.0.0', 10, 'a shared (carrier-grade NAT) address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address'],
  ['172.16.0.0', 12, 'a private address'],
  ['192.0.0.0', 24, 'an IETF protocol address'],
  ['192.0.2.0', 24, 'a documentation address'],
  ['192.88.99.0', 24, 'a 6to4 relay address'],
  ['192.168.0.0', 16, 'a private address'],
  ['198.18.0.0', 15, 'a benchmarking address'],
  ['198.51.100.0', 24, 'a documentation address'],
  ['203.0.113.0', 24, 'a documentation address'],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved (or broadcast) address'],
];

const V6_RANGES: readonly [string, number, string][] = [
  ['::', 128, 'the unspecified address'],
  ['::1', 128, 'a loopback address'],
  ['64:ff9b:1::', 48, 'a local-use NAT64 address'],
  ['100::', 64, 'a discard-only address'],
  ['2001::', 23, 'an IETF protocol address (Teredo, ORCHID, …)'],
  ['2001:db8::', 32, 'a documentation address'],
  ['fc00::', 7, 'a unique local address (ULA)'],
  ['fe80::', 10, 'a link-local address'],
  ['fec0::', 10, 'a site-local address'],
  ['ff00::', 8, 'a multicast address'],
];

/** One BlockList per range, so the answer can say which range an address fell in. */
const lists = (ranges: readonly [string, number, string][], type: 'ipv4' | 'ipv6') =>
  ranges.map(([net, prefix, reason]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, type);
    return { list, reason };
  });
const V4_LISTS = lists(V4_RANGES, 'ipv4');
const V6_LISTS = lists(V6_RANGES, 'ipv6');

/** The 16 bytes of an IPv6 address (a zone id such as `%eth0` dropped); null if it is not one. */
export function ipv6Bytes(address: string): Uint8Array | null {
  const text = address.replace(/%.*$/, '');
  if (!isIPv6(text)) return null;
  let groups: number[];
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number);
        out.push((a! << 8) | b!, (c! << 8) | d!);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const [head, tail] = text.split('::');
  if (tail === undefined) groups = parse(head!);
  else {
    const h = parse(head!);
    const t = parse(tail);
    groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

const dotted = (b: Uint8Array, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
const zeros = (b: Uint8Array, from: number, to: number) => b.subarray(from, to).every((x) => x === 0);

/**
 * Why a webhook may not connect to `address` (an IPv4 or IPv6 literal), or null when it is a
 * public unicast address. Anything that is not an IP address is refused too.
 */
export function forbiddenAddress(address: string): string | null {
  if (isIPv4(address)) return V4_LISTS.find((l) => l.list.check(address, 'ipv4'))?.reason ?? null;
  const b = ipv6Bytes(address);
  if (!b) return 'not an IP address';
  // ::ffff:a.b.c.d and ::a.b.c.d: IPv4 in IPv6 clothing, never a public name's AAAA record.
  if (zeros(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return `an IPv4-mapped IPv6 address (of ${dotted(b, 12)})`;
  if (zeros(b, 0, 12)) {
    if (zeros(b, 12, 15) && b[15]! <= 1) return b[15] === 0 ? 'the unspecified address' : 'a loopback address';
    return 'an IPv4-compatible IPv6 address';
  }
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they carry.
  const nat64 = b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(b, 4, 12);
  if (nat64 || (b[0] === 0x20 && b[1] === 0x02)) {
    const v4 = dotted(b, nat64 ? 12 : 2);
    const inner = forbiddenAddress(v4);
    return inner ? `${nat64 ? 'a NAT64' : 'a 6to4'} address of ${v4}, ${inner}` : null;
  }
  const canonical = address.replace(/%.*$/, '');
  return V6_LISTS.find((l) => l.list.check(canonical, 'ipv6'))?.reason ?? null;
}
