{#-
  PostgreSQL only. dbt's own view materialization renames the old view aside and drops it with
  CASCADE, which drops every view built on it: a subset build that rebuilds a staging view but
  not the intermediate view over it would leave that view missing. Replaced in place, a view
  keeps its dependents. PostgreSQL refuses that only when the columns changed shape; the view is
  then dropped and created, and its dependents go with it as before (they read the old columns).
-#}
{%- materialization view, adapter='postgres' -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='view') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% if existing is not none and not existing.is_view %}
        {{ drop_relation_if_exists(existing) }}
    {% endif %}
    {% call statement('main') -%}
        do $steward$ begin
            create or replace view {{ target_relation }} as ({{ sql }});
        exception when invalid_table_definition then
            drop view {{ target_relation }} cascade;
            create view {{ target_relation }} as ({{ sql }});
        end $steward$
    {%- endcall %}

    {% do apply_grants(target_relation, config.get('grants'),
                       should_revoke=should_revoke(existing, full_refresh_mode=True)) %}
    {% do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization -%}
