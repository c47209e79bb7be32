"""The salesperson workspace's URLs (names are a contract other pages link to)."""

from django.urls import path

from crm import views_activities as activities
from crm import views_campaigns as campaigns
from crm import views_customers as customers
from crm import views_deals as deals
from crm import views_prospects as prospects
from crm import views_sales_costs as sales_costs
from crm.search import record_search
from crm.views_bulk import deal_bulk

urlpatterns = [
    path("search/<str:kind>/", record_search, name="record_search"),
    path("deals/", deals.deal_list, name="deal_list"),
    path("deals/bulk/", deal_bulk, name="deal_bulk"),
    path("deals/board/", deals.deal_board, name="deal_board"),
    path("deals/new/", deals.deal_create, name="deal_create"),
    path("deals/<int:pk>/", deals.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/edit/", deals.deal_edit, name="deal_edit"),
    path("deals/<int:pk>/move/", deals.deal_move, name="deal_move"),
    path("deals/<int:pk>/won/", deals.deal_won, name="deal_won"),
    path("deals/<int:pk>/lost/", deals.deal_lost, name="deal_lost"),
    path("deals/<int:pk>/reopen/", deals.deal_reopen, name="deal_reopen"),
    path("prospects/", prospects.prospect_list, name="prospect_list"),
    path("prospects/new/", prospects.prospect_create, name="prospect_create"),
    path("prospects/<int:pk>/", prospects.prospect_detail, name="prospect_detail"),
    path("prospects/<int:pk>/edit/", prospects.prospect_edit, name="prospect_edit"),
    path("prospects/<int:pk>/status/", prospects.prospect_status, name="prospect_status"),
    path("prospects/<int:pk>/lost/", prospects.prospect_lost, name="prospect_lost"),
    path("prospects/<int:pk>/convert/", prospects.prospect_convert, name="prospect_convert"),
    path("customers/", customers.customer_list, name="customer_list"),
    path("customers/new/", customers.customer_create, name="customer_create"),
    path("customers/<int:pk>/", customers.customer_detail, name="customer_detail"),
    path("customers/<int:pk>/edit/", customers.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/churn/", customers.customer_churn, name="customer_churn"),
    path("activities/", activities.activity_list, name="activity_list"),
    path("activities/new/", activities.activity_create, name="activity_create"),
    path("activities/<int:pk>/done/", activities.activity_done, name="activity_done"),
    path("campaigns/", campaigns.campaign_list, name="campaign_list"),
    path("campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", campaigns.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/edit/", campaigns.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/spend/", campaigns.campaign_spend_add, name="campaign_spend_add"),
    path(
        "campaigns/<int:pk>/spend/<int:line_pk>/delete/",
        campaigns.campaign_spend_delete,
        name="campaign_spend_delete",
    ),
    path("sales-costs/", sales_costs.sales_cost_list, name="sales_cost_list"),
    path("sales-costs/import/", sales_costs.sales_cost_import, name="sales_cost_import"),
    path("sales-costs/<int:pk>/edit/", sales_costs.sales_cost_edit, name="sales_cost_edit"),
    path("sales-costs/<int:pk>/delete/", sales_costs.sales_cost_delete, name="sales_cost_delete"),
    path("targets/", campaigns.target_grid, name="target_grid"),
    path(
        "targets/<str:kind>/<int:pk>/<str:month>/",
        campaigns.target_cell,
        name="target_cell",
    ),
]
