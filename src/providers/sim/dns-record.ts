/** @module providers/sim/dns-record — `sim.dns_record`: a DNS record (A, AAAA, CNAME, TXT). */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { simName } from './names.ts';
import { defineSimType } from './resource.ts';

export const simDnsRecord = defineSimType({
  type: 'sim.dns_record',
  segment: 'dns_records',
  description: 'A DNS record: type A, AAAA, CNAME or TXT, and its value.',
  schema: z
    .strictObject({
      name: simName,
      type: z.enum(['A', 'AAAA', 'CNAME', 'TXT']),
      value: z.string().min(1).max(4096),
    })
    .superRefine((p, c) => {
      if (p.type === 'A' && !isIPv4(p.value))
        c.addIssue({ code: 'custom', path: ['value'], message: 'an A record needs an IPv4 address' });
      if (p.type === 'AAAA' && !isIPv6(p.value))
        c.addIssue({ code: 'custom', path: ['value'], message: 'an AAAA record needs an IPv6 address' });
    }),
  replaceOn: ['name'],
});
