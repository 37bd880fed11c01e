-- Fraud KPIs per day against the chargeback label (see analytics.fraud_daily for definitions).
{{ config(alias='fraud_daily') }}

select
    day,
    orders,
    scored_orders,
    flagged_orders,
    chargebacks,
    flagged_chargebacks,
    chargeback_rate,
    flagged_rate,
    fraud_caught_rate,
    false_positive_rate,
    precision,
    label_complete
from {{ ref('fraud_daily') }}
