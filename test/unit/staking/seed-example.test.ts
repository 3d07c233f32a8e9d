/**
 * The seed document's own usage example, run against the package's default export. The
 * one change: the seed's example address has 39 hex digits, which the API refuses.
 */
import { describe, expect, it } from 'vitest';
import DINInfrastructureCore, { CoreError } from '../../../src/index.js';

describe("the seed's usage example", () => {
  it('refuses the seed\'s own 39-digit example address', async () => {
    await expect(
      DINInfrastructureCore.registerOperator('operator-0', '0x742d35Cc6634C0532925a3b844Bc9e7595f0bEb', 1000000000000000000n),
    ).rejects.toMatchObject({ code: 'INVALID_ADDRESS' });
    await expect(DINInfrastructureCore.registerOperator('operator-0', '0x742d35Cc6634C0532925a3b844Bc9e7595f0bEb')).rejects.toBeInstanceOf(CoreError);
  });

  it('runs as written with a valid address', async () => {
    // Register operator
    await DINInfrastructureCore.registerOperator(
      'operator-1',
      '0x742d35cc6634c0532925a3b844bc9e7595f0beb0',
      1000000000000000000n, // 1 ETH
    );

    // Stake additional amount
    await DINInfrastructureCore.stake('operator-1', 500000000000000000n); // 0.5 ETH

    // Record performance metrics
    await DINInfrastructureCore.recordMetrics('operator-1', {
      serviceId: 'rpc-service',
      successRate: 99.5,
      p95Latency: 200,
      p99Latency: 300,
      throughput: 13000000000, // 13B requests/month
      uptime: 99.95,
      timestamp: Date.now(),
    });

    // Get operator
    const operator = DINInfrastructureCore.getOperator('operator-1')!;
    expect(operator.stakedAmount).toBe(1500000000000000000n);
    expect(operator.walletAddress).toBe('0x742D35CC6634c0532925A3b844BC9E7595F0BEb0'); // EIP-55 checksummed
    expect(operator.performanceScore).toBeGreaterThan(95);
    expect(operator.violations).toEqual([]);

    // Get recent metrics
    const metrics = DINInfrastructureCore.getMetrics('operator-1', 10);
    expect(metrics).toHaveLength(1);
    expect(metrics[0]).toMatchObject({ successRate: 99.5, p95Latency: 200 });

    // Get status
    const status = DINInfrastructureCore.status();
    expect(status.totalOperators).toBe(1);
    expect(status.totalStaked).toBe(1500000000000000000n);
    expect(status.activeOperators).toBe(1);
    expect(status.slashedOperators).toBe(0);
    expect(status.averagePerformanceScore).toBe(operator.performanceScore);
    expect(status.lastPerformanceCheck).not.toBeNull();

    // Unstake, and the ledger still adds up.
    await DINInfrastructureCore.unstake('operator-1', 500000000000000000n);
    expect(DINInfrastructureCore.getOperator('operator-1')!.stakedAmount).toBe(1000000000000000000n);
    const events = await DINInfrastructureCore.events({ operatorId: 'operator-1' });
    expect(events.map((e) => e.type)).toEqual(['stake', 'stake', 'unstake', 'release']);
  });
});
