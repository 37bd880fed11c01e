-- Fraud KPIs per UTC day of order time, against the chargeback label. Confusion counts use the
-- orders score_fraud scored; the label (a fraudulent chargeback) arrives 1-60 days after the
-- order, so the latest days look better than they will: label_complete says whether 60 days
-- have passed.
with orders as (
    select * from {{ ref('orders') }}
),

counts as (
    select
        order_date as day,
        count(*) as orders,
        count(*) filter (where fraud_score is not null) as scored_orders,
        count(*) filter (where fraud_flagged) as flagged_orders,
        count(*) filter (where is_fraud) as chargebacks,
        count(*) filter (where is_fraud and fraud_score is not null) as scored_chargebacks,
        count(*) filter (where is_fraud and fraud_flagged) as flagged_chargebacks,
        count(*) filter (where not is_fraud and fraud_flagged) as false_positives,
        count(*) filter (where not is_fraud and fraud_score is not null) as scored_legitimate,
        sum(amount_eur) filter (where is_fraud) as chargeback_amount_eur,
        sum(amount_eur) filter (where is_fraud and fraud_flagged) as caught_amount_eur
    from orders
    group by order_date
),

final as (
    select
        day,
        orders,
        scored_orders,
        flagged_orders,
        chargebacks,
        flagged_chargebacks,
        false_positives,
        chargebacks::float8 / nullif(orders, 0) as chargeback_rate,
        flagged_orders::float8 / nullif(scored_orders, 0) as flagged_rate,
        flagged_chargebacks::float8 / nullif(scored_chargebacks, 0) as fraud_caught_rate,
        false_positives::float8 / nullif(scored_legitimate, 0) as false_positive_rate,
        flagged_chargebacks::float8 / nullif(flagged_orders, 0) as precision,
        coalesce(chargeback_amount_eur, 0) as chargeback_amount_eur,
        coalesce(caught_amount_eur, 0) as caught_amount_eur,
        day < (now() at time zone 'UTC')::date - 60 as label_complete
    from counts
)

select * from final
