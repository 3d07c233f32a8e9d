/**
 * The seed's public types (SEED-din-infrastructure-core.md), kept as the library's surface.
 * Amounts are bigint wei; on the wire they travel as decimal strings.
 */

export type ViolationType = 'downtime' | 'bad_data' | 'misbehavior' | 'performance_threshold';
export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Violation {
  type: ViolationType;
  timestamp: number;
  durationMinutes?: number;
  severity: Severity;
  description: string;
}

export interface NodeOperator {
  id: string;
  walletAddress: string;
  stakedAmount: bigint; // in wei
  performanceScore: number; // 0-100
  violations: Violation[];
  registeredAt: number;
  lastPerformanceCheck: number;
}

export interface PerformanceMetrics {
  serviceId: string;
  successRate: number; // 0-100 (target: >99%)
  p95Latency: number; // ms (target: <250ms)
  p99Latency: number; // ms
  throughput: number; // requests/month (target: 13B+)
  uptime: number; // percentage (target: >99.9%)
  timestamp: number;
}

export interface StakingEvent {
  operatorId: string;
  type: 'stake' | 'unstake' | 'slash';
  amount: bigint;
  timestamp: number;
  reason?: string;
}

export interface DINInfrastructureStatus {
  totalOperators: number;
  totalStaked: bigint;
  activeOperators: number;
  slashedOperators: number;
  averagePerformanceScore: number;
  lastPerformanceCheck: number | null;
}
