-- Forecasts store what their outlook is computed from (a few dozen bytes) instead of its prices
-- (8 bytes per remaining day), and the prices are expanded when a forecast is rendered. Rows
-- stored before keep their prices in `outlook` until their series' next forecast.
ALTER TABLE `forecasts` ADD `outlook_curve` blob;
