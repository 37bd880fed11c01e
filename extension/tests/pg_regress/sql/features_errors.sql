-- features: errors and their SQLSTATEs
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
begin;
-- half_life: months have no fixed length, and it must be positive
select feature_decayed_sum(1, now(), interval '1 month', now());
select feature_ewma(1, now(), interval '1 year 2 days');
select feature_ewma(1, now(), interval '0 seconds');
select feature_decayed_sum(1, now(), interval '-1 hour', now());
-- the half-life must not change within one aggregate
select feature_ewma(x, now(), h) from (values (1.0::float8, interval '1 hour'), (2.0, interval '2 hours')) t(x, h);
-- infinite timestamps
select feature_ewma(1, 'infinity', interval '1 hour');
select feature_decayed_sum(1, now(), interval '1 hour', '-infinity');
-- coordinates out of range
select feature_haversine_km(91, 0, 0, 0);
select feature_haversine_km(0, 0, 0, -180.5);
select feature_haversine_km('nan', 0, 0, 0);
-- period must be positive and finite
select feature_cyclical_sin(3, 0);
select feature_cyclical_cos(3, 'infinity');
-- the same errors with their SQLSTATE
\set VERBOSITY sqlstate
select feature_decayed_sum(1, now(), interval '1 month', now());
select feature_ewma(x, now(), h) from (values (1.0::float8, interval '1 hour'), (2.0, interval '2 hours')) t(x, h);
select feature_haversine_km(91, 0, 0, 0);
select feature_cyclical_sin(3, -1);
rollback;
