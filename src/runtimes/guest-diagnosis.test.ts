import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnoseUnreachable, type UnreachableFacts } from './guest-diagnosis.js';

const base: UnreachableFacts = {
  network: 'tap', address: '10.201.0.6', gateway: '10.201.0.5', prefix: 30, port: 8080, mac: '02:53:4d:00:00:01',
  dhcp: { served: true, packets: {} },
  observed: { framesFromGuest: 3, arp: 'unanswered', port: 'timeout' },
  lastCheck: { refused: false, answered: false, detail: 'GET /healthy: not connected within 20 ms' },
  consoleTail: ['vm-hello: config: 0 variables', '', 'vm-hello: httpd listening on :8080'],
};
const TWO_WAYS = /To fix, either way: have the guest take its address by DHCP \(served on its tap: 10\.201\.0\.6\/30 via 10\.201\.0\.5\) or from its boot arguments \(\{ip\} and \{gateway\} in \[run\]\.args, e\.g\. MirageOS's --ipv4=\{ip\}\/30 --ipv4-gateway=\{gateway\}; or SUMMON_ADDR and SUMMON_GATEWAY on the kernel command line\); or set \[run\]\.network = "user"/;

const cases: { name: string; facts: Partial<UnreachableFacts>; saw: RegExp; fix: RegExp }[] = [
  {
    name: 'no DHCP request, no ARP: configured nothing or its own address',
    facts: {},
    saw: /^Summon saw: no DHCP request from the guest \(02:53:4d:00:00:01\) and no answer to ARP for 10\.201\.0\.6: it configured no network, or an address of its own \(QEMU's user-mode default is 10\.0\.2\.15\);/,
    fix: TWO_WAYS,
  },
  {
    name: 'no frame at all: the NIC is not up',
    facts: { observed: { framesFromGuest: 0, arp: 'unanswered', port: 'timeout' } },
    saw: /no DHCP request .*; it sent no frame at all on its tap \(is its NIC driver loaded and its link up\?\);/,
    fix: TWO_WAYS,
  },
  {
    name: 'DHCP answered but no ARP',
    facts: { dhcp: { served: true, packets: { discover: 1, offer: 2, request: 3, ack: 4 }, address: '10.201.0.6' } },
    saw: /^Summon saw: DHCP answered \(DHCPACK of 10\.201\.0\.6 to 02:53:4d:00:00:01\) but no answer to ARP for 10\.201\.0\.6: the guest took the lease but did not configure it;/,
    fix: TWO_WAYS,
  },
  {
    name: 'offered, never requested',
    facts: { dhcp: { served: true, packets: { discover: 1, offer: 2 }, address: '10.201.0.6' } },
    saw: /asked for an address \(DHCPDISCOVER from 02:53:4d:00:00:01\) and was offered 10\.201\.0\.6, but never requested it \(no DHCPREQUEST\)/,
    fix: TWO_WAYS,
  },
  {
    name: 'asked, got nothing',
    facts: { dhcp: { served: true, packets: { request: 1, nak: 2 } } },
    saw: /asked for an address \(DHCPREQUEST from 02:53:4d:00:00:01\) but got none \(DHCPNAK\), and no answer to ARP/,
    fix: TWO_WAYS,
  },
  {
    name: 'no DHCP server on this host',
    facts: { dhcp: { served: false, packets: {}, reason: 'no DHCP for DHCP guests: dnsmasq not found (apt-get install dnsmasq-base)' } },
    saw: /no DHCP server ran for its tap \(no DHCP for DHCP guests: dnsmasq not found \(apt-get install dnsmasq-base\)\) and no answer to ARP/,
    fix: TWO_WAYS,
  },
  {
    name: 'ARP answered, port closed (refused while asking)',
    facts: { dhcp: { served: true, packets: { ack: 1 } }, observed: { framesFromGuest: 9, arp: 'answered', port: 'refused' } },
    saw: /^Summon saw: the guest is on the network at 10\.201\.0\.6 \(it answered ARP and refused the connection\) but nothing listens on port 8080;/,
    fix: /To fix: make the app listen on port 8080, or set \[run\]\.port to the port it listens on$/,
  },
  {
    name: 'the health checks were refused: port closed even without asking',
    facts: { observed: undefined, lastCheck: { refused: true, answered: false, detail: 'connection refused' } },
    saw: /nothing listens on port 8080/,
    fix: /set \[run\]\.port/,
  },
  {
    name: 'ARP answered, the port neither accepts nor refuses',
    facts: { observed: { framesFromGuest: 9, arp: 'answered', port: 'timeout' } },
    saw: /the guest answers ARP at 10\.201\.0\.6, but a connection to port 8080 got no answer \(neither accepted nor refused: a firewall in the guest\?\)/,
    fix: /To fix: let the guest accept TCP connections on port 8080 from 10\.201\.0\.5$/,
  },
  {
    name: 'the port accepts, the health check gets no answer',
    facts: { observed: { framesFromGuest: 9, arp: 'answered', port: 'accepted' }, lastCheck: { refused: false, answered: false, detail: 'GET /healthy: timed out after 1000 ms' } },
    saw: /port 8080 accepts connections at 10\.201\.0\.6, but the health check got no answer \(last check: GET \/healthy: timed out after 1000 ms\)/,
    fix: /\[health\]\.path/,
  },
  {
    name: 'ARP unknown (the entry could not be read): still names DHCP',
    facts: { observed: { framesFromGuest: null, arp: 'unknown', port: 'timeout' } },
    saw: /no DHCP request from the guest \(02:53:4d:00:00:01\) and no answer at 10\.201\.0\.6:/,
    fix: TWO_WAYS,
  },
  {
    name: 'user-mode network',
    facts: { network: 'user', address: '10.0.2.15', gateway: '10.0.2.2', prefix: 24, hostPort: 41000, dhcp: undefined, observed: undefined },
    saw: /^Summon saw: nothing answered at 10\.0\.2\.15:8080 on QEMU's user-mode network \(forwarded from 127\.0\.0\.1:41000\) \(last check: GET \/healthy: not connected within 20 ms\);/,
    fix: /To fix: the guest takes 10\.0\.2\.15\/24 via 10\.0\.2\.2 \(QEMU's own DHCP serves it, or SUMMON_ADDR on the kernel command line\) and listens on port 8080 \(\[run\]\.port\)$/,
  },
];

for (const c of cases) {
  test(`diagnosis: ${c.name}`, () => {
    const msg = diagnoseUnreachable({ ...base, ...c.facts });
    assert.match(msg, c.saw);
    assert.match(msg, c.fix);
    // The console's last lines, blank ones left out, are in every message.
    assert.match(msg, /console's last lines: vm-hello: config: 0 variables \| vm-hello: httpd listening on :8080\./);
  });
}

test('diagnosis: a silent console says so, and only the last three lines are kept', () => {
  assert.match(diagnoseUnreachable({ ...base, consoleTail: [] }), /; the console printed nothing\. To fix/);
  const m = diagnoseUnreachable({ ...base, consoleTail: ['a', 'b', 'c', 'd'] });
  assert.match(m, /console's last lines: b \| c \| d\./);
});
