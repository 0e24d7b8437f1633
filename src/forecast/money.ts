/** Rounds an amount of money to cents (2 decimals), the precision the API answers in. */
export function roundMoney(amount: number): number {
  return Math.round(amount * 100) / 100;
}

/** Rounds a probability to 4 decimals. */
export function roundProbability(p: number): number {
  return Math.round(p * 10_000) / 10_000;
}
