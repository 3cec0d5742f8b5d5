/**
 * Rebalance after a membership change: which server pushes a soul to an owner it gained
 * (handoff.ts runs it for every stored soul whose owners changed). One pusher per soul,
 * decided by each server alone from the owners before and after.
 */
/**
 * Whether `self` pushes a soul to the owners it gained (those in `owners` and not in
 * `previous`, both closest first). One pusher per soul: a former owner still a member
 * hands the soul off itself (it holds it and no longer owns it: its pass pushes it to the
 * owners that were not its co-owners), so the owners that stay push nothing — a member coming back was otherwise sent
 * each of its souls by two servers at once. With no such former owner (it is gone, or
 * nobody was displaced: fewer members than R before), the closest of the owners that
 * owned it before too, as this server's history saw it. A server whose history differs
 * may push it as well (merged to nothing) or leave it to anti-entropy, which finds a soul
 * one co-owner lacks within a round.
 */
export function pushesGains(previous: readonly string[], owners: readonly string[], isMember: (peerId: string) => boolean, self: string): boolean {
  if (previous.some((owner) => !owners.includes(owner) && isMember(owner))) return false;
  return owners.find((owner) => previous.includes(owner)) === self;
}
