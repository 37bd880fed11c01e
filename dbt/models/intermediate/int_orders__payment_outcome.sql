-- Per order, what its payment events say: authorised, declined, charged back (for any reason, or
-- as fraud, the label) and when the first chargeback came.
with payments as (
    select * from {{ ref('stg_raw__payments') }}
),

outcome as (
    select
        order_id,
        bool_or(event_type = 'payment_authorized') as authorized,
        bool_or(event_type = 'payment_declined') as declined,
        bool_or(is_chargeback) as charged_back,
        bool_or(is_chargeback and chargeback_reason = 'fraudulent') as fraud_chargeback,
        min(occurred_at) filter (where is_chargeback) as charged_back_at,
        max(ingested_at) as last_ingested_at
    from payments
    group by order_id
)

select * from outcome
