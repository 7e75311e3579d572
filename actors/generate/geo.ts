/** A country payments happen in: its rough centre and extent, currency, and units per US dollar. */
export interface Country {
  code: string;
  currency: string;
  lat: number;
  lon: number;
  radiusKm: number;
  perUsd: number;
  /** ISO 4217 minor-unit digits. */
  digits: number;
  /** Share of customers living there. */
  weight: number;
}

// Exchange rates are round figures: the generator needs plausible magnitudes per currency, not quotes.
export const COUNTRIES: readonly Country[] = [
  { code: "US", currency: "USD", lat: 39.8, lon: -98.6, radiusKm: 1500, perUsd: 1, digits: 2, weight: 25 },
  { code: "CA", currency: "CAD", lat: 45.5, lon: -75.7, radiusKm: 600, perUsd: 1.36, digits: 2, weight: 5 },
  { code: "MX", currency: "MXN", lat: 19.4, lon: -99.1, radiusKm: 500, perUsd: 17, digits: 2, weight: 4 },
  { code: "BR", currency: "BRL", lat: -23.5, lon: -46.6, radiusKm: 700, perUsd: 5, digits: 2, weight: 5 },
  { code: "GB", currency: "GBP", lat: 52.5, lon: -1.5, radiusKm: 250, perUsd: 0.79, digits: 2, weight: 9 },
  { code: "IE", currency: "EUR", lat: 53.3, lon: -7.7, radiusKm: 120, perUsd: 0.92, digits: 2, weight: 2 },
  { code: "FR", currency: "EUR", lat: 46.6, lon: 2.4, radiusKm: 350, perUsd: 0.92, digits: 2, weight: 7 },
  { code: "DE", currency: "EUR", lat: 51.0, lon: 10.3, radiusKm: 300, perUsd: 0.92, digits: 2, weight: 8 },
  { code: "ES", currency: "EUR", lat: 40.2, lon: -3.7, radiusKm: 350, perUsd: 0.92, digits: 2, weight: 5 },
  { code: "IT", currency: "EUR", lat: 42.8, lon: 12.6, radiusKm: 300, perUsd: 0.92, digits: 2, weight: 5 },
  { code: "NL", currency: "EUR", lat: 52.2, lon: 5.3, radiusKm: 80, perUsd: 0.92, digits: 2, weight: 3 },
  { code: "SE", currency: "SEK", lat: 59.3, lon: 18.1, radiusKm: 300, perUsd: 10.5, digits: 2, weight: 2 },
  { code: "PL", currency: "PLN", lat: 52.1, lon: 19.4, radiusKm: 250, perUsd: 4, digits: 2, weight: 3 },
  { code: "CH", currency: "CHF", lat: 46.8, lon: 8.2, radiusKm: 90, perUsd: 0.88, digits: 2, weight: 2 },
  { code: "IN", currency: "INR", lat: 21.0, lon: 78.0, radiusKm: 1000, perUsd: 83, digits: 2, weight: 6 },
  { code: "JP", currency: "JPY", lat: 35.7, lon: 139.7, radiusKm: 400, perUsd: 150, digits: 0, weight: 4 },
  { code: "KR", currency: "KRW", lat: 37.5, lon: 127.0, radiusKm: 150, perUsd: 1330, digits: 0, weight: 2 },
  { code: "SG", currency: "SGD", lat: 1.35, lon: 103.8, radiusKm: 15, perUsd: 1.34, digits: 2, weight: 2 },
  { code: "AU", currency: "AUD", lat: -33.9, lon: 151.2, radiusKm: 900, perUsd: 1.52, digits: 2, weight: 4 },
  { code: "ZA", currency: "ZAR", lat: -26.2, lon: 28.0, radiusKm: 500, perUsd: 18.5, digits: 2, weight: 2 },
];

export type LatLon = readonly [lat: number, lon: number];

/** Great-circle distance (haversine, mean Earth radius). */
export function distanceKm([lat1, lon1]: LatLon, [lat2, lon2]: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}
