import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSim } from '../../sim/index.ts';
import type { SimHandle } from '../../sim/index.ts';
import { createPlainHttpClient, createSignedHttpClient } from '../../signing/index.ts';
import type { ClosableHttpClient } from '../../signing/index.ts';
import { droverAlarmWatch, droverDeployment } from '../drover/index.ts';
import { testContext } from '../testing.ts';
import { ProviderError, TransientError } from '../types.ts';
import type { ProviderContext } from '../types.ts';
import { simBucket, simDnsRecord, simInstance, simLoadBalancer, simNetwork, simUser } from './index.ts';

const creds = { accessKeyId: 'AKTESTPROVIDERS', secretAccessKey: 'secret-for-provider-tests' };
let sim: SimHandle;
let http: ClosableHttpClient;
let ctx: ProviderContext;

beforeAll(async () => {
  // provisionMs > 0 so every create must really wait for AVAILABLE.
  sim = await startSim({ keys: { [creds.accessKeyId]: creds.secretAccessKey }, provisionMs: 150 });
  http = createSignedHttpClient(creds);
  ctx = testContext({ http, config: { endpoint: sim.url }, providerConfigs: { sim: { endpoint: sim.url } } });
});
afterAll(async () => {
  http?.close();
  await sim?.close();
});
beforeEach(async () => {
  await fetch(`${sim.url}/_reset`, { method: 'POST' });
});

async function inventory(): Promise<{ kind: string; id: string; name: string; state: string }[]> {
  return (await (await fetch(`${sim.url}/_resources`)).json()) as never;
}

let n = 0;
const key = () => `key-${process.pid}-${++n}`;

describe('sim.* against the real simulator', () => {
  it('network + instance: create waits for AVAILABLE, read, update in place, delete, delete again', async () => {
    const net = await simNetwork.create(
      ctx,
      { name: 'net-a', cidr: '10.0.0.0/16' },
      { idempotencyKey: key() },
    );
    expect(net).toMatchObject({ name: 'net-a', cidr: '10.0.0.0/16', state: 'AVAILABLE', region: 'sim-1' });

    const vmProps = { network: net.id, shape: 'small' };
    const vm = await simInstance.create(ctx, vmProps, { idempotencyKey: key() });
    expect(vm.state).toBe('AVAILABLE');
    expect(typeof vm.health_url).toBe('string');
    expect(typeof vm.name).toBe('string'); // named for us when the flock gives no name

    expect(await simInstance.read(ctx, vm.id, vmProps)).toMatchObject({ id: vm.id, shape: 'small' });
    const bigger = await simInstance.update!(ctx, vm.id, { ...vmProps, shape: 'large' }, vm);
    expect(bigger).toMatchObject({ id: vm.id, shape: 'large' });

    await simInstance.delete(ctx, vm.id, bigger);
    expect(await simInstance.read(ctx, vm.id, vmProps)).toBeNull();
    await simInstance.delete(ctx, vm.id, bigger);
    await simNetwork.delete(ctx, net.id, net);
    expect(await inventory()).toEqual([]);
  });

  it('bucket, dns_record, load_balancer: create, update, delete', async () => {
    const b = await simBucket.create(ctx, { name: 'logs' }, { idempotencyKey: key() });
    expect(b).toMatchObject({ name: 'logs', state: 'AVAILABLE' });
    const d = await simDnsRecord.create(
      ctx,
      { name: 'www', type: 'A', value: '10.0.0.1' },
      { idempotencyKey: key() },
    );
    const d2 = await simDnsRecord.update!(ctx, d.id, { name: 'www', type: 'A', value: '10.0.0.2' }, d);
    expect(d2.value).toBe('10.0.0.2');
    const lb = await simLoadBalancer.create(
      ctx,
      { name: 'front', backends: ['i-1'] },
      { idempotencyKey: key() },
    );
    const lb2 = await simLoadBalancer.update!(ctx, lb.id, { name: 'front', backends: ['i-1', 'i-2'] }, lb);
    expect(lb2.backends).toEqual(['i-1', 'i-2']);
    for (const [t, a] of [
      [simBucket, b],
      [simDnsRecord, d2],
      [simLoadBalancer, lb2],
    ] as const)
      await t.delete(ctx, a.id, a);
    expect(await inventory()).toEqual([]);
  });

  it('a create retried with the same idempotency key makes one resource', async () => {
    const k = key();
    const a = await simBucket.create(ctx, { name: 'once' }, { idempotencyKey: k });
    const b = await simBucket.create(ctx, { name: 'once' }, { idempotencyKey: k });
    expect(b.id).toBe(a.id);
    expect((await inventory()).filter((r) => r.kind === 'bucket')).toHaveLength(1);
  });

  it('lookup finds what a crashed create made, by key; nothing when nothing was made', async () => {
    const k = key();
    const made = await simBucket.create(ctx, { name: 'crashy' }, { idempotencyKey: k });
    expect(await simBucket.lookup(ctx, { idempotencyKey: k, props: { name: 'crashy' } })).toMatchObject({
      id: made.id,
      state: 'AVAILABLE',
    });
    expect(await simBucket.lookup(ctx, { idempotencyKey: key(), props: { name: 'never-made' } })).toBeNull();
  });

  it('the user called nglass: a user left by an earlier crashed create is adopted, not a blocker', async () => {
    const orphan = await simUser.create(ctx, { name: 'nglass' }, { idempotencyKey: key() });
    // State lost the first key: refresh looks up a fresh key and finds nglass by its natural key…
    expect(await simUser.lookup(ctx, { idempotencyKey: key(), props: { name: 'nglass' } })).toMatchObject({
      id: orphan.id,
    });
    // …and a create with a fresh key meets 409 NAME_TAKEN and adopts it.
    const adopted = await simUser.create(ctx, { name: 'nglass' }, { idempotencyKey: key() });
    expect(adopted.id).toBe(orphan.id);
    expect((await inventory()).filter((r) => r.kind === 'user')).toHaveLength(1);
  });

  it('a taken name with other properties is not adopted', async () => {
    await simNetwork.create(ctx, { name: 'shared', cidr: '10.1.0.0/16' }, { idempotencyKey: key() });
    await expect(
      simNetwork.create(ctx, { name: 'shared', cidr: '10.2.0.0/16' }, { idempotencyKey: key() }),
    ).rejects.toMatchObject({ code: 'NAME_TAKEN' });
    expect(
      await simNetwork.lookup(ctx, { idempotencyKey: key(), props: { name: 'shared', cidr: '10.2.0.0/16' } }),
    ).toBeNull();
  });

  it('maps errors: 400 VALIDATION and 401 to ProviderError, injected 5xx and refused connections to TransientError', async () => {
    await expect(
      simInstance.create(
        ctx,
        { name: 'orphan-vm', network: 'net-nope', shape: 'small' },
        { idempotencyKey: key() },
      ),
    ).rejects.toMatchObject({ status: 400 });
    const plain = createPlainHttpClient();
    try {
      const unsigned = testContext({ http: plain, config: { endpoint: sim.url } });
      await expect(simBucket.read(unsigned, 'bkt-x', { name: 'x' })).rejects.toMatchObject({
        status: 401,
        code: 'SIGNATURE_INVALID',
      });
    } finally {
      plain.close();
    }
    const flaky = await startSim({ keys: { [creds.accessKeyId]: creds.secretAccessKey }, errorRate: 1 });
    try {
      const c = testContext({ http, config: { endpoint: flaky.url } });
      await expect(simBucket.create(c, { name: 'x' }, { idempotencyKey: key() })).rejects.toBeInstanceOf(
        TransientError,
      );
    } finally {
      await flaky.close();
    }
    await expect(
      simBucket.read(testContext({ http, config: { endpoint: 'http://127.0.0.1:1' } }), 'x', { name: 'x' }),
    ).rejects.toBeInstanceOf(TransientError);
    await expect(simBucket.read(testContext({ http }), 'x', { name: 'x' })).rejects.toMatchObject({
      code: 'PROVIDER_CONFIG',
    });
  });
});

describe('drover.deployment and drover.alarm_watch against the real simulator', () => {
  async function instance(): Promise<{ id: string; health_url: string }> {
    const net = await simNetwork.create(
      ctx,
      { name: `n-${key()}`, cidr: '10.0.0.0/16' },
      { idempotencyKey: key() },
    );
    const vm = await simInstance.create(ctx, { network: net.id, shape: 'small' }, { idempotencyKey: key() });
    return vm as never;
  }

  it('deploys a version, sees it healthy, and the alarm watch passes', async () => {
    const vm = await instance();
    const d = await droverDeployment.create(
      ctx,
      { instance: vm.id, artifact: 'v1.2.3', health_interval: '50ms' },
      { idempotencyKey: key() },
    );
    expect(d).toMatchObject({
      status: 'SUCCEEDED',
      deployed_version: 'v1.2.3',
      health_url: vm.health_url,
      release_id: ctx.releaseId,
    });
    expect((await simInstance.read(ctx, vm.id, {}))?.deployed_version).toBe('v1.2.3');
    const w = await droverAlarmWatch.create(
      ctx,
      { url: vm.health_url, duration: '1s', interval: '50ms' },
      { idempotencyKey: key() },
    );
    expect(w.samples).toBeGreaterThanOrEqual(2);
  });

  it('fails the deployment when the version is unhealthy, and the alarm when the instance turns unhealthy', async () => {
    const vm = await instance();
    await fetch(`${sim.url}/_faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'version', version: 'v-bad', mode: 'unhealthy' }),
    });
    await expect(
      droverDeployment.create(
        ctx,
        { instance: vm.id, artifact: 'v-bad', health_checks: 3, health_interval: '20ms' },
        { idempotencyKey: key() },
      ),
    ).rejects.toMatchObject({ code: 'DEPLOYMENT_UNHEALTHY' });

    await droverDeployment.create(
      ctx,
      { instance: vm.id, artifact: 'v-good', health_interval: '20ms' },
      { idempotencyKey: key() },
    );
    setTimeout(() => {
      void fetch(`${sim.url}/_faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ target: 'instance', id: vm.id, mode: 'unhealthy' }),
      });
    }, 150);
    await expect(
      droverAlarmWatch.create(
        ctx,
        { url: vm.health_url, duration: '20s', interval: '30ms' },
        { idempotencyKey: key() },
      ),
    ).rejects.toMatchObject({ code: 'ALARM' });
  });

  it('a deploy to an instance that does not exist is a ProviderError', async () => {
    await expect(
      droverDeployment.create(ctx, { instance: 'i-missing', artifact: 'v1' }, { idempotencyKey: key() }),
    ).rejects.toBeInstanceOf(ProviderError);
  });
});
