import { getAddress } from 'viem';

const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * EIP-55: an address in one case (all lowercase or all uppercase hex) carries no checksum
 * and is accepted; a mixed-case address must match its checksum exactly.
 */
export function isValidAddress(address: string): boolean {
  if (typeof address !== 'string' || !HEX_ADDRESS.test(address)) return false;
  const hex = address.slice(2);
  if (hex === hex.toLowerCase() || hex === hex.toUpperCase()) return true;
  return getAddress(address) === address;
}

/** The EIP-55 checksummed form of a valid address. */
export function checksumAddress(address: string): `0x${string}` {
  return getAddress(address.toLowerCase());
}
