-- The seed's test recipe: "create a dummy list and load 500 leads". Loaded only into an empty
-- vicidial_list (list 999, the demo's dummy list), with the variety real lead loads have:
-- NULLs, ViciDial's zero and placeholder dates, non-Latin names.
INSERT INTO vicidial_list
  (entry_date, status, user, vendor_lead_code, source_id, list_id, gmt_offset_now, called_since_last_reset,
   phone_code, phone_number, title, first_name, middle_initial, last_name, address1, city, state,
   postal_code, country_code, gender, date_of_birth, alt_phone, email, comments, called_count,
   last_local_call_time, `rank`, owner, entry_list_id)
SELECT
  NOW() - INTERVAL seq HOUR,
  ELT(1 + seq % 4, 'NEW', 'NA', 'B', 'CALLBK'),
  IF(seq % 3 = 0, NULL, 'VDAD'),
  CONCAT('V', LPAD(seq, 6, '0')),
  'demo',
  999,
  '2.00',
  'N',
  '27',
  CONCAT('0821', LPAD(seq, 6, '0')),
  IF(seq % 5 = 0, NULL, ELT(1 + seq % 3, 'Mr', 'Ms', 'Dr')),
  ELT(1 + seq % 6, 'Thandi', 'Pieter', 'Zoë', 'Ahmed', 'Lindiwe', 'Nakamura 中村'),
  IF(seq % 2 = 0, 'J', NULL),
  ELT(1 + seq % 5, 'Naidoo', 'van der Merwe', 'Dlamini', 'Müller', 'Smith '),
  CONCAT(seq, ' Main Road'),
  'Durban',
  'KZ',
  LPAD(4000 + seq % 100, 4, '0'),
  'ZA',
  ELT(1 + seq % 3, 'M', 'F', 'U'),
  IF(seq % 7 = 0, '0000-00-00', DATE('1980-01-01') + INTERVAL seq DAY),
  NULL,
  CONCAT('lead', seq, '@example.com'),
  IF(seq % 4 = 0, NULL, 'demo lead'),
  seq % 5,
  '2008-01-01 00:00:00',
  0,
  '',
  0
FROM seq_1_to_500
WHERE NOT EXISTS (SELECT 1 FROM vicidial_list LIMIT 1);
