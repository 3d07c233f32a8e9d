/** Reading the gateway's count of the failures it caught and survived, from its /metrics. */

/** The value of `din_internal_errors_total{where="…"}` on the gateway's /metrics (admin listener). */
export async function internalErrors(adminUrl: string, where: string): Promise<number> {
  const res = await fetch(`${adminUrl}metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  const match = new RegExp(`^din_internal_errors_total\\{where="${where}"\\} (\\S+)$`, 'm').exec(text);
  if (match === null) throw new Error(`no din_internal_errors_total{where="${where}"} on /metrics`);
  return Number(match[1]);
}
